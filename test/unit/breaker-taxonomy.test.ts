import { classifyOutcome, TtftTimeoutError, type OutcomeKind } from '../../lambda/core/breaker-taxonomy';
import {
  DeadlineExceededError,
  InternalError,
  ModelStreamError,
  ModelUnavailableError,
  PayloadTooLargeError,
  TokenBudgetExceededError,
  ValidationError,
} from '../../lambda/core/errors';

/** An error shaped like an AWS SDK v3 service exception. */
function sdkError(name: string, status?: number, fault?: 'client' | 'server'): Error {
  return Object.assign(new Error(`${name} from the service`), {
    name,
    $fault: fault,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });
}

function named(name: string): Error {
  return Object.assign(new Error(name), { name });
}

describe('classifyOutcome', () => {
  const counting: Array<[string, unknown, OutcomeKind]> = [
    ['ThrottlingException', sdkError('ThrottlingException', 429, 'client'), 'throttled'],
    ['ServiceQuotaExceededException', sdkError('ServiceQuotaExceededException', 400, 'client'), 'throttled'],
    ['a bare HTTP 429', sdkError('SomethingNew', 429), 'throttled'],
    ['InternalServerException', sdkError('InternalServerException', 500, 'server'), 'server'],
    ['ServiceUnavailableException', sdkError('ServiceUnavailableException', 503, 'server'), 'server'],
    ['ModelNotReadyException', sdkError('ModelNotReadyException', 429, 'client'), 'server'],
    ['an unknown exception with HTTP 502', sdkError('BadGatewaySomething', 502), 'server'],
    ['an unknown exception with $fault server', sdkError('BrandNewServerFault', undefined, 'server'), 'server'],
    ['ModelTimeoutException', sdkError('ModelTimeoutException', 408, 'client'), 'timeout'],
    ['our first-token timeout', new TtftTimeoutError('m', 15_000), 'timeout'],
    ['a TimeoutError (AbortSignal.timeout)', named('TimeoutError'), 'timeout'],
    ['ModelStreamErrorException mid-stream', sdkError('ModelStreamErrorException', undefined, 'client'), 'stream'],
    ['ModelErrorException', sdkError('ModelErrorException', 424, 'client'), 'stream'],
    ['our ModelStreamError without a cause', new ModelStreamError('broke'), 'stream'],
    ['AccessDeniedException (model access not granted)', sdkError('AccessDeniedException', 403, 'client'), 'unusable'],
    [
      'ResourceNotFoundException (model not in region)',
      sdkError('ResourceNotFoundException', 404, 'client'),
      'unusable',
    ],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'network'],
    ['an HTTP/2 stream error', Object.assign(new Error('h2'), { code: 'ERR_HTTP2_STREAM_ERROR' }), 'network'],
    [
      'an abort caused by the first-token timeout',
      Object.assign(named('AbortError'), { cause: new TtftTimeoutError('m', 1) }),
      'timeout',
    ],
    [
      'our ModelStreamError wrapping a throttle',
      new ModelStreamError('wrapped', { cause: sdkError('ThrottlingException', 429) }),
      'throttled',
    ],
  ];

  it.each(counting)('counts %s as a failure', (_label, err, kind) => {
    expect(classifyOutcome(err)).toMatchObject({ kind, counts: true });
  });

  const ignored: Array<[string, unknown, OutcomeKind]> = [
    [
      'our deadline (a healthy model slower than a synchronous call may wait)',
      new DeadlineExceededError('deadline'),
      'limit',
    ],
    [
      'our deadline, whatever aborted the call',
      new DeadlineExceededError('deadline', { cause: sdkError('ThrottlingException', 429) }),
      'limit',
    ],
    ['ValidationException (a bad request)', sdkError('ValidationException', 400, 'client'), 'invalid-request'],
    ['an unknown HTTP 400 exception', sdkError('WeirdInput', 400, 'client'), 'invalid-request'],
    ['an unknown exception with $fault client', sdkError('WeirdClientThing', undefined, 'client'), 'invalid-request'],
    ['our ValidationError', new ValidationError('bad field'), 'invalid-request'],
    ['our PayloadTooLargeError', new PayloadTooLargeError('too big'), 'invalid-request'],
    ['a client abort', named('AbortError'), 'aborted'],
    ['a DOM-style abort code', Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }), 'aborted'],
    [
      'our token budget rejection (status 429)',
      new TokenBudgetExceededError('spent', { retryAfterSeconds: 10 }),
      'limit',
    ],
    ['our own ModelUnavailableError (status 503)', new ModelUnavailableError('none'), 'internal'],
    ['our own InternalError (status 500)', new InternalError('bug'), 'internal'],
    ['a TypeError in our code', new TypeError('x is undefined'), 'internal'],
    ['a thrown string', 'boom', 'internal'],
    ['undefined', undefined, 'internal'],
    ['an abort wrapping an unknown cause', Object.assign(named('AbortError'), { cause: new Error('?') }), 'aborted'],
  ];

  it.each(ignored)('does not count %s', (_label, err, kind) => {
    expect(classifyOutcome(err)).toMatchObject({ kind, counts: false });
  });

  it('reports the deciding name for logs', () => {
    expect(classifyOutcome(sdkError('ThrottlingException', 429)).name).toBe('ThrottlingException');
    expect(classifyOutcome(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).name).toBe('ECONNREFUSED');
  });
});
