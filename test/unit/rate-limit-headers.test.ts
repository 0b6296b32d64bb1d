/**
 * The rate-limit headers of the model routes: the standard pair (draft-ietf-httpapi-ratelimit-headers-11) for the
 * concurrency limit, OpenAI's `x-ratelimit-*` with OpenAI's duration format, and how a concurrency refusal is answered
 * on the native routes and the OpenAI-compatible one.
 */
import { CORS_EXPOSE_HEADERS } from '../../config/headers';
import { ConcurrencyLimitExceededError, TokenBudgetExceededError } from '../../lambda/core/errors';
import type { CallLimits } from '../../lambda/core/guards';
import { errorResponse } from '../../lambda/core/http';
import { toOpenAIError } from '../../lambda/core/openai/errors';
import { openAIDuration, openAIRateLimitHeaders, rateLimitHeaders } from '../../lambda/core/rate-limit-headers';

const limits: CallLimits = {
  tokens: { limit: 50_000, remaining: 48_900, resetsInSeconds: 19_800 },
  concurrency: { limit: 2, remaining: 1, resetsInSeconds: 90 },
};

const refused = () =>
  new ConcurrencyLimitExceededError('2 model calls are already in flight', {
    retryAfterSeconds: 2,
    limits: {
      tokens: { limit: 50_000, resetsInSeconds: 19_800 },
      concurrency: { limit: 2, remaining: 0, resetsInSeconds: 2 },
    },
  });

describe('rateLimitHeaders', () => {
  it('names the concurrency policy with its quota and unit, and the slots left, as structured field Lists', () => {
    expect(rateLimitHeaders(limits)).toEqual({
      'ratelimit-policy': '"concurrency";q=2;qu="concurrent-requests"',
      ratelimit: '"concurrency";r=1',
    });
  });

  it('sends nothing for a call that took no slot', () => {
    expect(rateLimitHeaders({ tokens: limits.tokens })).toEqual({});
    expect(rateLimitHeaders(undefined)).toEqual({});
  });
});

describe('openAIRateLimitHeaders', () => {
  it('reports the concurrency limit as requests and the daily budget as tokens', () => {
    expect(openAIRateLimitHeaders(limits)).toEqual({
      'x-ratelimit-limit-requests': '2',
      'x-ratelimit-remaining-requests': '1',
      'x-ratelimit-reset-requests': '1m30s',
      'x-ratelimit-limit-tokens': '50000',
      'x-ratelimit-remaining-tokens': '48900',
      'x-ratelimit-reset-tokens': '5h30m0s',
    });
  });

  it('leaves out what a refusal does not know', () => {
    expect(openAIRateLimitHeaders({ tokens: { limit: 10, resetsInSeconds: 5 } })).toEqual({
      'x-ratelimit-limit-tokens': '10',
      'x-ratelimit-reset-tokens': '5s',
    });
  });

  it.each([
    [0, '0s'],
    [1.2, '2s'],
    [59, '59s'],
    [60, '1m0s'],
    [3_600, '1h0m0s'],
    [86_399, '23h59m59s'],
  ])('writes %p seconds as %p', (seconds, text) => {
    expect(openAIDuration(seconds)).toBe(text);
  });
});

describe('a concurrency refusal', () => {
  it('is a retryable 429 CONCURRENCY_LIMIT_EXCEEDED with Retry-After and the rate-limit headers', () => {
    const res = errorResponse(refused());
    expect(res.statusCode).toBe(429);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: 'CONCURRENCY_LIMIT_EXCEEDED', message: '2 model calls are already in flight', retryable: true },
    });
    expect(res.headers).toMatchObject({
      'retry-after': '2',
      'ratelimit-policy': '"concurrency";q=2;qu="concurrent-requests"',
      ratelimit: '"concurrency";r=0',
    });
  });

  it("is OpenAI's requests rate limit on the OpenAI-compatible route, which the SDKs may retry", () => {
    const { status, headers, body } = toOpenAIError(refused());
    expect(status).toBe(429);
    expect(body).toEqual({
      error: {
        message: '2 model calls are already in flight',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(headers).toEqual({
      'retry-after': '2',
      'ratelimit-policy': '"concurrency";q=2;qu="concurrent-requests"',
      ratelimit: '"concurrency";r=0',
      'x-ratelimit-limit-requests': '2',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '2s',
      'x-ratelimit-limit-tokens': '50000',
      'x-ratelimit-reset-tokens': '5h30m0s',
    });
  });

  it('leaves other 429s without rate-limit headers', () => {
    const res = errorResponse(new TokenBudgetExceededError('spent', { retryAfterSeconds: 60 }));
    expect(Object.keys(res.headers ?? {})).not.toContain('ratelimit');
  });
});

describe('CORS', () => {
  it('lets browser pages read every rate-limit header', () => {
    expect(CORS_EXPOSE_HEADERS).toEqual(
      expect.arrayContaining([
        'ratelimit',
        'ratelimit-policy',
        'x-ratelimit-limit-requests',
        'x-ratelimit-remaining-requests',
        'x-ratelimit-reset-requests',
        'x-ratelimit-limit-tokens',
        'x-ratelimit-remaining-tokens',
        'x-ratelimit-reset-tokens',
      ]),
    );
  });
});
