/** The HTTP side of `POST /reports`: reading the body (metadata kept exactly or refused) and the status URL of a `202`. */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ValidationError } from '../../lambda/core/errors';
import { apiUrlScheme, inexactNumberPath, parseSubmitReportRequest, statusUrlOf } from '../../lambda/core/reports/api';

const REPORT_ID = '6a1f3c2e-8d4b-4f7a-9c1e-2b3d4e5f6a7b';

function post(body: string, headers: Record<string, string> = {}, isBase64Encoded = false) {
  return { body, headers, isBase64Encoded } as Pick<APIGatewayProxyEvent, 'body' | 'headers' | 'isBase64Encoded'>;
}

function refusal(body: string): string {
  try {
    parseSubmitReportRequest(post(body));
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('parseSubmitReportRequest', () => {
  test.each([
    ['an integer beyond 2^53', '{"prompt":"p","metadata":{"orderId":12345678901234567890}}', 'metadata.orderId'],
    ['one just past 2^53', '{"prompt":"p","metadata":{"a":{"id":9007199254740993}}}', 'metadata.a.id'],
    [
      'a negative one, inside an array',
      '{"prompt":"p","metadata":{"ids":[1,2,-12345678901234567890]}}',
      'metadata.ids.2',
    ],
    ['more digits than a float holds', '{"prompt":"p","metadata":{"pi":3.14159265358979323846}}', 'metadata.pi'],
    ['a number that overflows to Infinity', '{"prompt":"p","metadata":{"big":1e400}}', 'metadata.big'],
    ['a number that underflows to 0', '{"prompt":"p","metadata":{"small":1e-400}}', 'metadata.small'],
    [
      'a key with escapes',
      '{"prompt":"p","metadata":{"we\\"ird\\\\":[{"x":"]}","n":123456789012345678901}]}}',
      'metadata.we"ird\\.0.n',
    ],
  ])('refuses %s with a 400 naming its path', (_label, body, path) => {
    const message = refusal(body);
    expect(message.startsWith(`${path}: `)).toBe(true);
    expect(message).toMatch(/send it as a string/);
  });

  test('keeps numbers a float holds exactly, whatever their spelling', () => {
    const body =
      '{"prompt":"p","metadata":{"a":1e126,"b":1e-131,"c":9007199254740991,"d":-0,"e":0.1,"f":1.50,"g":100E-2,"h":[5e-324,1.7976931348623157e308]}}';
    const { metadata } = parseSubmitReportRequest(post(body));
    expect(metadata).toEqual({
      a: 1e126,
      b: 1e-131,
      c: 9007199254740991,
      d: -0,
      e: 0.1,
      f: 1.5,
      g: 1,
      h: [5e-324, 1.7976931348623157e308],
    });
  });

  test('keeps "__proto__" and "constructor" keys as keys, at any depth', () => {
    const body = '{"prompt":"p","metadata":{"__proto__":{"admin":true},"constructor":{"__proto__":[1]}}}';
    const { metadata } = parseSubmitReportRequest(post(body));
    expect(Object.keys(metadata!)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(JSON.stringify(metadata)).toBe('{"__proto__":{"admin":true},"constructor":{"__proto__":[1]}}');
  });

  test('reads a base64 body and the Idempotency-Key header', () => {
    const body = Buffer.from('{"prompt":"p","metadata":{"n":12345678901234567890}}').toString('base64');
    expect(() => parseSubmitReportRequest(post(body, {}, true))).toThrow(/^metadata\.n: /);
    const ok = parseSubmitReportRequest(
      post(Buffer.from('{"prompt":"p"}').toString('base64'), { 'Idempotency-Key': 'k-1' }, true),
    );
    expect(ok).toEqual({ prompt: 'p', callbackUrl: undefined, metadata: undefined, idempotencyKey: 'k-1' });
  });

  test('numbers are scanned in strings-aware, nesting-aware order', () => {
    expect(inexactNumberPath('{"a":"12345678901234567890","b":[1,[2,{"c":3}],99999999999999999999]}')).toBe('b.2');
    expect(inexactNumberPath(`{"a":${'['.repeat(100_000)}1${']'.repeat(100_000)}}`)).toBeUndefined();
    expect(inexactNumberPath('{"a":[true,false,null,-1.5e-3]}')).toBeUndefined();
  });
});

describe('statusUrlOf', () => {
  const event = (
    requestContext: Partial<APIGatewayProxyEvent['requestContext']>,
    headers: Record<string, string> = {},
  ) => ({ resource: '/reports', headers, requestContext }) as unknown as APIGatewayProxyEvent;
  const hostile = {
    'X-Forwarded-Proto': 'javascript',
    Host: 'evil.example.com',
    'X-Forwarded-Host': 'evil.example.com',
  };

  test('on the execute-api domain: https, the stage as base path, whatever the headers say', () => {
    const e = event(
      {
        domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
        stage: 'v1',
        path: '/v1/reports',
        resourcePath: '/reports',
      },
      hostile,
    );
    expect(statusUrlOf(e, REPORT_ID, 'https')).toBe(
      `https://abc123.execute-api.eu-west-1.amazonaws.com/v1/reports/${REPORT_ID}`,
    );
  });

  test('on a custom domain: its base path mapping, or none', () => {
    const mapped = event(
      { domainName: 'api.example.com', stage: 'v1', path: '/genai/v2/reports', resourcePath: '/reports' },
      hostile,
    );
    expect(statusUrlOf(mapped, REPORT_ID, 'https')).toBe(`https://api.example.com/genai/v2/reports/${REPORT_ID}`);
    const root = event(
      { domainName: 'api.example.com', stage: 'v1', path: '/reports', resourcePath: '/reports' },
      hostile,
    );
    expect(statusUrlOf(root, REPORT_ID, 'https')).toBe(`https://api.example.com/reports/${REPORT_ID}`);
  });

  test('a called path that is not a plain prefix falls back to the stage, never to what the client wrote', () => {
    const odd = event({
      domainName: 'abc.execute-api.us-east-1.amazonaws.com',
      stage: 'v1',
      path: '/v1/reports/',
      resourcePath: '/reports',
    });
    expect(statusUrlOf(odd, REPORT_ID, 'https')).toBe(
      `https://abc.execute-api.us-east-1.amazonaws.com/v1/reports/${REPORT_ID}`,
    );
    const injected = event({
      domainName: 'api.example.com',
      stage: 'v1',
      path: 'javascript:alert(1)//reports',
      resourcePath: '/reports',
    });
    expect(statusUrlOf(injected, REPORT_ID, 'https')).toBe(`https://api.example.com/reports/${REPORT_ID}`);
  });

  test('never takes the host from a header; without a usable domain name the URL is relative', () => {
    expect(statusUrlOf(event({ path: '/reports', resourcePath: '/reports' }, hostile), REPORT_ID, 'https')).toBe(
      `/reports/${REPORT_ID}`,
    );
    expect(
      statusUrlOf(
        event({ domainName: 'evil.example.com/@x', path: '/reports', resourcePath: '/reports' }),
        REPORT_ID,
        'https',
      ),
    ).toBe(`/reports/${REPORT_ID}`);
  });

  test('the scheme comes from the function environment: https unless the local cloud says http', () => {
    expect(apiUrlScheme({})).toBe('https');
    expect(apiUrlScheme({ API_URL_SCHEME: 'http' })).toBe('http');
    expect(apiUrlScheme({ API_URL_SCHEME: 'javascript' })).toBe('https');
    const local = event(
      { domainName: '127.0.0.1:3000', stage: 'local', path: '/reports', resourcePath: '/reports' },
      hostile,
    );
    expect(statusUrlOf(local, REPORT_ID, 'http')).toBe(`http://127.0.0.1:3000/reports/${REPORT_ID}`);
  });
});
