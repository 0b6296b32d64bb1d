/** `api.cors` validation and the CORS headers every part of the API answers with (config/headers.ts). */
import {
  allowedOrigin,
  CORS_EXPOSE_HEADERS,
  corsResponseHeaders,
  isExactOrigin,
  preflightHeaders,
  preflightMethods,
} from '../../config/headers';
import { ConfigError, parseConfig } from '../../config/schema';

function configProblems(allowOrigins: unknown): string[] {
  try {
    parseConfig({ api: { cors: { allowOrigins } } });
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

describe('api.cors configuration', () => {
  it('is off by default, with a 10-minute preflight cache', () => {
    expect(parseConfig({}).api.cors).toEqual({ allowOrigins: [], maxAgeSeconds: 600 });
  });

  it('accepts exact origins, and "*" alone', () => {
    const origins = ['https://app.example.com', 'http://localhost:5173', 'http://127.0.0.1:8080'];
    expect(parseConfig({ api: { cors: { allowOrigins: origins } } }).api.cors.allowOrigins).toEqual(origins);
    expect(configProblems(['*'])).toEqual([]);
  });

  it.each([
    ['a trailing slash', 'https://app.example.com/'],
    ['a path', 'https://app.example.com/app'],
    ['the default port', 'https://app.example.com:443'],
    ['upper case', 'https://App.example.com'],
    ['no scheme', 'app.example.com'],
    ['another scheme', 'ftp://app.example.com'],
    ['a wildcard subdomain', 'https://*.example.com'],
    ['"null"', 'null'],
  ])('refuses an origin with %s, naming the entry', (_what, origin) => {
    const problems = configProblems(['https://ok.example.com', origin]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^api\.cors\.allowOrigins\.1: must be an origin as browsers send it/);
  });

  it('refuses "*" beside other origins, and repeated origins, naming the field', () => {
    expect(configProblems(['*', 'https://a.example'])).toEqual([
      'api.cors.allowOrigins: "*" (any origin) must be the only entry',
    ]);
    expect(configProblems(['https://a.example', 'https://a.example'])).toEqual([
      'api.cors.allowOrigins: must not repeat https://a.example',
    ]);
  });

  it('refuses an unknown field and a max age out of range', () => {
    expect(() => parseConfig({ api: { cors: { allowOrigin: ['https://a.example'] } } })).toThrow(
      /api\.cors\.allowOrigin: is not a known field/,
    );
    expect(() => parseConfig({ api: { cors: { maxAgeSeconds: 0 } } })).toThrow(/api\.cors\.maxAgeSeconds/);
  });
});

describe('CORS headers', () => {
  const listed = ['https://a.example', 'https://b.example'];

  it('allow a listed origin by name, any origin with "*", and nothing else', () => {
    expect(allowedOrigin('https://b.example', listed)).toBe('https://b.example');
    expect(allowedOrigin('https://c.example', listed)).toBeUndefined();
    expect(allowedOrigin(undefined, listed)).toBeUndefined();
    expect(allowedOrigin('https://c.example', ['*'])).toBe('*');
    expect(allowedOrigin('https://a.example', [])).toBeUndefined();
  });

  it('on an answer: the origin, the readable headers and Vary for a listed origin; only Vary for another', () => {
    expect(corsResponseHeaders('https://a.example', listed)).toEqual({
      'access-control-allow-origin': 'https://a.example',
      'access-control-expose-headers': CORS_EXPOSE_HEADERS.join(','),
      vary: 'Origin',
    });
    expect(corsResponseHeaders('https://evil.example', listed)).toEqual({ vary: 'Origin' });
    expect(corsResponseHeaders('https://evil.example', ['*'])).toEqual({
      'access-control-allow-origin': '*',
      'access-control-expose-headers': CORS_EXPOSE_HEADERS.join(','),
    });
    expect(corsResponseHeaders('https://a.example', [])).toEqual({});
  });

  it('never allow credentials, and expose the request id and Retry-After', () => {
    const headers = corsResponseHeaders('https://a.example', listed);
    expect(Object.keys(headers)).not.toContain('access-control-allow-credentials');
    expect(CORS_EXPOSE_HEADERS).toEqual(expect.arrayContaining(['x-request-id', 'retry-after', 'location']));
  });

  it('on a preflight: the route methods with OPTIONS first, the request headers, and the max age', () => {
    const headers = preflightHeaders('https://b.example', { allowOrigins: listed, maxAgeSeconds: 600 }, ['POST']);
    expect(headers).toMatchObject({
      'access-control-allow-origin': 'https://b.example',
      'access-control-allow-methods': 'OPTIONS,POST',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    expect(headers['access-control-allow-headers'].split(',')).toEqual(
      expect.arrayContaining([
        'content-type',
        'x-api-key',
        'authorization',
        'idempotency-key',
        'last-event-id',
        'cache-control',
      ]),
    );
    const refused = preflightHeaders('https://c.example', { allowOrigins: listed, maxAgeSeconds: 600 }, ['POST']);
    expect(refused).toEqual({ vary: 'Origin' });
    expect(preflightMethods(['GET', 'POST', 'GET', 'OPTIONS'])).toEqual(['OPTIONS', 'GET', 'POST']);
  });

  it('take an origin only exactly as a browser sends it', () => {
    expect(isExactOrigin('https://xn--bcher-kva.example')).toBe(true);
    expect(isExactOrigin('https://bücher.example')).toBe(false);
    expect(isExactOrigin('https://user@a.example')).toBe(false);
    expect(isExactOrigin('https://a.example?q=1')).toBe(false);
    expect(isExactOrigin('http://[::1]:3000')).toBe(true);
    expect(isExactOrigin('https://a_b.example')).toBe(false);
  });
});
