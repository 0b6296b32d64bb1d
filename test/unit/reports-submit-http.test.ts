/** The status URL of a `202`: built from the stage, never from request headers. */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { apiUrlScheme, statusUrlOf } from '../../lambda/core/reports/api';

const REPORT_ID = '6a1f3c2e-8d4b-4f7a-9c1e-2b3d4e5f6a7b';

describe('statusUrlOf', () => {
  const event = (requestContext: Partial<APIGatewayProxyEvent['requestContext']>, headers: Record<string, string> = {}) =>
    ({ resource: '/reports', headers, requestContext }) as unknown as APIGatewayProxyEvent;
  const hostile = { 'X-Forwarded-Proto': 'javascript', Host: 'evil.example.com', 'X-Forwarded-Host': 'evil.example.com' };

  test('on the execute-api domain: https, the stage as base path, whatever the headers say', () => {
    const e = event({ domainName: 'abc123.execute-api.eu-west-1.amazonaws.com', stage: 'v1', path: '/v1/reports', resourcePath: '/reports' }, hostile);
    expect(statusUrlOf(e, REPORT_ID, 'https')).toBe(`https://abc123.execute-api.eu-west-1.amazonaws.com/v1/reports/${REPORT_ID}`);
  });

  test('on a custom domain: its base path mapping, or none', () => {
    const mapped = event({ domainName: 'api.example.com', stage: 'v1', path: '/genai/v2/reports', resourcePath: '/reports' }, hostile);
    expect(statusUrlOf(mapped, REPORT_ID, 'https')).toBe(`https://api.example.com/genai/v2/reports/${REPORT_ID}`);
    const root = event({ domainName: 'api.example.com', stage: 'v1', path: '/reports', resourcePath: '/reports' }, hostile);
    expect(statusUrlOf(root, REPORT_ID, 'https')).toBe(`https://api.example.com/reports/${REPORT_ID}`);
  });

  test('a called path that is not a plain prefix falls back to the stage, never to what the client wrote', () => {
    const odd = event({ domainName: 'abc.execute-api.us-east-1.amazonaws.com', stage: 'v1', path: '/v1/reports/', resourcePath: '/reports' });
    expect(statusUrlOf(odd, REPORT_ID, 'https')).toBe(`https://abc.execute-api.us-east-1.amazonaws.com/v1/reports/${REPORT_ID}`);
    const injected = event({ domainName: 'api.example.com', stage: 'v1', path: 'javascript:alert(1)//reports', resourcePath: '/reports' });
    expect(statusUrlOf(injected, REPORT_ID, 'https')).toBe(`https://api.example.com/reports/${REPORT_ID}`);
  });

  test('never takes the host from a header; without a usable domain name the URL is relative', () => {
    expect(statusUrlOf(event({ path: '/reports', resourcePath: '/reports' }, hostile), REPORT_ID, 'https')).toBe(`/reports/${REPORT_ID}`);
    expect(statusUrlOf(event({ domainName: 'evil.example.com/@x', path: '/reports', resourcePath: '/reports' }), REPORT_ID, 'https')).toBe(`/reports/${REPORT_ID}`);
  });

  test('the scheme comes from the function environment: https unless the local cloud says http', () => {
    expect(apiUrlScheme({})).toBe('https');
    expect(apiUrlScheme({ API_URL_SCHEME: 'http' })).toBe('http');
    expect(apiUrlScheme({ API_URL_SCHEME: 'javascript' })).toBe('https');
    const local = event({ domainName: '127.0.0.1:3000', stage: 'local', path: '/reports', resourcePath: '/reports' }, hostile);
    expect(statusUrlOf(local, REPORT_ID, 'http')).toBe(`http://127.0.0.1:3000/reports/${REPORT_ID}`);
  });
});
