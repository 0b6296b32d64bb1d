/**
 * How the typed client reads a failed answer (`errorFromResponse`): the contract's body, the OpenAI routes' body, API
 * Gateway's own `{"message"}` and a body that is not JSON each give the code, retryability and `Retry-After` a caller
 * acts on.
 */
import { errorFromResponse } from '../../clients/typescript/src/errors';

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });

describe('errorFromResponse', () => {
  it('keeps the contract body’s code and retryability, with Retry-After and the request id', async () => {
    const err = await errorFromResponse(
      answer(
        429,
        { error: { code: 'COST_BUDGET_EXCEEDED', message: 'Daily spend limit reached', retryable: true } },
        { 'retry-after': '3600', 'x-request-id': 'req-1' },
      ),
    );
    expect(err).toMatchObject({
      status: 429,
      code: 'COST_BUDGET_EXCEEDED',
      retryable: true,
      retryAfterSeconds: 3600,
      requestId: 'req-1',
      message: 'Daily spend limit reached',
    });
  });

  it.each([
    ['insufficient_quota', 'insufficient_quota', 429, 'COST_BUDGET_EXCEEDED', true],
    ['rate_limit_exceeded', 'tokens', 429, 'TOKEN_BUDGET_EXCEEDED', true],
    ['invalid_api_key', 'invalid_request_error', 401, 'UNAUTHORIZED', false],
    ['model_unavailable', 'server_error', 503, 'MODEL_UNAVAILABLE', true],
  ])('reads OpenAI’s %s (type %s, %i) as %s', async (openaiCode, type, status, code, retryable) => {
    const err = await errorFromResponse(
      answer(status, { error: { message: 'refused', type, param: null, code: openaiCode } }, { 'retry-after': '60' }),
    );
    expect(err).toMatchObject({ status, code, retryable, retryAfterSeconds: 60, message: 'refused' });
  });

  it('gives API Gateway’s own 429 the THROTTLED code, retryable', async () => {
    const err = await errorFromResponse(answer(429, { message: 'Too Many Requests' }));
    expect(err).toMatchObject({ status: 429, code: 'THROTTLED', retryable: true, message: 'Too Many Requests' });
  });

  it('quotes a body that is not JSON and codes it from the status', async () => {
    const err = await errorFromResponse(answer(502, '<html>Bad Gateway</html>'));
    expect(err).toMatchObject({ status: 502, code: 'GATEWAY_ERROR', retryable: true });
    expect(err.message).toContain('Bad Gateway');
  });
});
