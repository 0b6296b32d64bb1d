/**
 * Cancelling a stream, the pure parts: the route's answers from the store's outcome, the abort a cancel causes turned
 * into CANCELLED (and only a cancel's), the final status of the log, the one log line and metrics of a cancel, the
 * OpenAI shape of CANCELLED, and how the local cloud reads LOCAL_SIGNAL_DISCONNECT.
 */
import { ClientGoneError } from '../../lambda/core/model-attempt';
import { type ApiError, CancelledError, DeadlineExceededError } from '../../lambda/core/errors';
import { toOpenAIError } from '../../lambda/core/openai/errors';
import { cancelAware, cancelStream, finalStatusOf, reportStreamCancelled } from '../../lambda/core/streams/cancel';
import type { CancelOutcome } from '../../lambda/core/streams/log';
import { signalDisconnectFrom } from '../../local/cloud';

const storeAnswering = (outcome: CancelOutcome) => {
  const calls: unknown[][] = [];
  return {
    calls,
    store: {
      requestCancel: async (...args: unknown[]) => {
        calls.push(args);
        return outcome;
      },
    },
  };
};

describe('cancelStream', () => {
  it('answers CANCELLING for a running stream of the caller', async () => {
    const { store, calls } = storeAnswering({ kind: 'requested' });
    await expect(cancelStream('r1', 'alice', { store, enabled: true, now: 5 })).resolves.toEqual({
      requestId: 'r1',
      status: 'CANCELLING',
    });
    expect(calls).toEqual([['r1', 'alice', 5]]);
  });

  it.each([
    [{ kind: 'notFound' } as const, 404, 'NOT_FOUND'],
    [{ kind: 'expired' } as const, 410, 'STREAM_EXPIRED'],
    [{ kind: 'finished', status: 'FAILED' } as const, 409, 'ALREADY_FINISHED'],
  ])('refuses %j with %i %s', async (outcome, status, code) => {
    const { store } = storeAnswering(outcome);
    await expect(cancelStream('r1', 'alice', { store, enabled: true })).rejects.toMatchObject({ status, code });
  });

  it('names the final status in the 409 body', async () => {
    const { store } = storeAnswering({ kind: 'finished', status: 'COMPLETED' });
    const err = (await cancelStream('r1', 'alice', { store, enabled: true }).catch((e: unknown) => e)) as ApiError;
    expect(err.toBody()).toEqual({
      error: { code: 'ALREADY_FINISHED', message: expect.any(String), retryable: false, status: 'COMPLETED' },
    });
  });

  it('answers 404 without asking the store when the log is off, or for an empty or overlong id', async () => {
    const { store, calls } = storeAnswering({ kind: 'requested' });
    for (const [id, enabled] of [
      ['r1', false],
      ['', true],
      ['x'.repeat(129), true],
    ] as const)
      await expect(cancelStream(id, 'alice', { store, enabled })).rejects.toMatchObject({ status: 404 });
    expect(calls).toEqual([]);
  });
});

describe('cancelAware', () => {
  it('turns the abort of a seen cancel into CANCELLED, and leaves everything else alone', () => {
    const gone = new ClientGoneError();
    expect(cancelAware(gone, { cancelled: true })).toBeInstanceOf(CancelledError);
    expect(cancelAware(gone, { cancelled: false })).toBe(gone);
    expect(cancelAware(gone, undefined)).toBe(gone);
    const deadline = new DeadlineExceededError('late');
    expect(cancelAware(deadline, { cancelled: true })).toBe(deadline);
  });

  it('CANCELLED is final: not retryable', () => {
    expect(new CancelledError('x')).toMatchObject({ code: 'CANCELLED', retryable: false });
  });
});

describe('finalStatusOf', () => {
  it('maps the code the client saw to the log status', () => {
    expect(finalStatusOf(undefined)).toBe('COMPLETED');
    expect(finalStatusOf('CANCELLED')).toBe('CANCELLED');
    expect(finalStatusOf('MODEL_STREAM_ERROR')).toBe('FAILED');
    expect(finalStatusOf('CLIENT_CLOSED')).toBe('FAILED');
  });
});

describe('reportStreamCancelled', () => {
  it('logs one line without content and counts Cancelled and TokensSavedByCancel by kind stream', () => {
    const lines: unknown[][] = [];
    const metrics: { dims: Record<string, string>; name?: string; value?: number }[] = [];
    const single = () => {
      const m: { dims: Record<string, string>; name?: string; value?: number } = { dims: {} };
      metrics.push(m);
      return {
        addDimension: (k: string, v: string) => void (m.dims[k] = v),
        addMetric: (name: string, _unit: string, value: number) => {
          m.name = name;
          m.value = value;
        },
      };
    };
    reportStreamCancelled({ info: (...args: unknown[]) => void lines.push(args) }, { singleMetric: single } as never, {
      requestId: 'r1',
      userId: 'alice',
      endpoint: 'chat-stream',
      maxTokens: 1000,
      outputChars: 400,
    });
    expect(lines).toEqual([
      [
        'stream cancelled',
        { requestId: 'r1', user_id: 'alice', endpoint: 'chat-stream', output_tokens: 100, tokens_saved: 900 },
      ],
    ]);
    expect(metrics).toEqual([
      { dims: { kind: 'stream' }, name: 'Cancelled', value: 1 },
      { dims: { kind: 'stream' }, name: 'TokensSavedByCancel', value: 900 },
    ]);
  });
});

describe('CANCELLED on the OpenAI route', () => {
  it("is a 499 in OpenAI's error shape, code cancelled, that the SDKs do not retry", () => {
    expect(toOpenAIError(new CancelledError('The stream was cancelled by its owner'))).toEqual({
      status: 499,
      headers: { 'x-should-retry': 'false' },
      body: {
        error: {
          message: 'The stream was cancelled by its owner',
          type: 'invalid_request_error',
          param: null,
          code: 'cancelled',
        },
      },
    });
  });
});

describe('LOCAL_SIGNAL_DISCONNECT', () => {
  it('the option wins; else true unless the variable says false; anything else is refused', () => {
    expect(signalDisconnectFrom(true, { LOCAL_SIGNAL_DISCONNECT: 'false' })).toBe(true);
    expect(signalDisconnectFrom(false, {})).toBe(false);
    expect(signalDisconnectFrom(undefined, {})).toBe(true);
    expect(signalDisconnectFrom(undefined, { LOCAL_SIGNAL_DISCONNECT: 'true' })).toBe(true);
    expect(signalDisconnectFrom(undefined, { LOCAL_SIGNAL_DISCONNECT: ' FALSE ' })).toBe(false);
    expect(() => signalDisconnectFrom(undefined, { LOCAL_SIGNAL_DISCONNECT: 'no' })).toThrow(/true or false/);
  });
});
