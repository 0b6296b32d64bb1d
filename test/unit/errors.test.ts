/** Errors map to the statuses and bodies of the contract; outages of our dependencies are 503, never 500. */
import {
  InternalError,
  ModelUnavailableError,
  ServiceUnavailableError,
  toApiError,
  ValidationError,
} from '../../lambda/core/errors';
import { errorResponse } from '../../lambda/core/http';

function sdkError(name: string, fault: 'client' | 'server'): Error {
  return Object.assign(new Error(name), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: fault === 'server' ? 500 : 400 },
  });
}

describe('toApiError', () => {
  it('keeps API errors as they are', () => {
    const err = new ValidationError('message: must not be empty');
    expect(toApiError(err)).toBe(err);
  });

  it.each([
    ['a server fault', sdkError('InternalServerError', 'server')],
    ['DynamoDB throttling', sdkError('ProvisionedThroughputExceededException', 'client')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })],
    ['a socket timeout', Object.assign(new Error('timeout'), { name: 'TimeoutError' })],
    ['a service quota hit', sdkError('ServiceQuotaExceededException', 'client')],
    ['an aborted connection', Object.assign(new Error('aborted'), { code: 'ECONNABORTED' })],
    ['a broken HTTP/2 session', Object.assign(new Error('session'), { code: 'ERR_HTTP2_SESSION_ERROR' })],
  ])('turns %s of a backing service into a retryable 503', (_name, err) => {
    const apiErr = toApiError(err);
    expect(apiErr).toBeInstanceOf(ServiceUnavailableError);
    expect(apiErr.status).toBe(503);
    expect(apiErr.retryable).toBe(true);
    expect(apiErr.cause).toBe(err);
  });

  it('treats anything else as a bug, without leaking its message', () => {
    const apiErr = toApiError(new TypeError('x is undefined'));
    expect(apiErr).toBeInstanceOf(InternalError);
    expect(apiErr.toBody()).toEqual({
      error: { code: 'INTERNAL_ERROR', message: 'An unexpected error occurred', retryable: true },
    });
    expect(toApiError(sdkError('ConditionalCheckFailedException', 'client'))).toBeInstanceOf(InternalError);
  });
});

describe('errorResponse', () => {
  it('writes the contract body, JSON headers and a whole-second Retry-After', () => {
    const res = errorResponse(new ModelUnavailableError('no model', { retryAfterSeconds: 2.2 }));
    expect(res.statusCode).toBe(503);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'retry-after': '3' });
    expect(JSON.parse(res.body)).toEqual({
      error: { code: 'MODEL_UNAVAILABLE', message: 'no model', retryable: true },
    });
  });

  it('sends no Retry-After when none is known', () => {
    expect(errorResponse(new ValidationError('bad')).headers).not.toHaveProperty('retry-after');
  });
});
