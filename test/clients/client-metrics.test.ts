/**
 * The client-side metrics every surface shows (`measureClientMetrics`, exported by the typed client): time to first
 * token, latency and tokens/s over the generation time, for a stream, a synchronous answer and a stream still
 * arriving; and the CLI and the playground writing the same figure for the same answer.
 */
import { formatRate as cliRate } from '../../cli/format';
import { measureClientMetrics } from '../../clients/typescript/src';
import { formatRate as playgroundRate } from '../../playground/src/format';

describe('measureClientMetrics', () => {
  it('a stream: TTFT to the first token, latency to the end, tokens/s over the time from the first token to the end', () => {
    expect(measureClientMetrics({ sentAt: 1_000, firstTokenAt: 1_100, doneAt: 1_600, outputTokens: 50 })).toEqual({
      ttftMs: 100,
      latencyMs: 600,
      tokensPerSecond: 100,
    });
  });

  it('a synchronous answer arrives whole: TTFT is the latency, tokens/s over the whole request', () => {
    expect(measureClientMetrics({ sentAt: 1_000, doneAt: 1_500, outputTokens: 50 })).toEqual({
      ttftMs: 500,
      latencyMs: 500,
      tokensPerSecond: 100,
    });
  });

  it('tokens that all arrive within a millisecond are counted over the whole request', () => {
    expect(
      measureClientMetrics({ sentAt: 0, firstTokenAt: 400, doneAt: 400.2, outputTokens: 20 }).tokensPerSecond,
    ).toBe(50);
  });

  it('no output tokens, or no time at all, give no rate', () => {
    expect(measureClientMetrics({ sentAt: 0, firstTokenAt: 100, doneAt: 200, outputTokens: 0 }).tokensPerSecond).toBe(
      null,
    );
    expect(measureClientMetrics({ sentAt: 5, doneAt: 5, outputTokens: 3 })).toEqual({
      ttftMs: 0,
      latencyMs: 0,
      tokensPerSecond: null,
    });
  });

  it('rounds each figure to a tenth', () => {
    expect(measureClientMetrics({ sentAt: 0, firstTokenAt: 123.456, doneAt: 1_000.04, outputTokens: 7 })).toEqual({
      ttftMs: 123.5,
      latencyMs: 1_000,
      tokensPerSecond: 8,
    });
  });

  it('a running figure while a stream arrives: TTFT counts up until the first token, then tokens/s since it', () => {
    // 800 ms in, nothing yet: TTFT runs with the latency, and there is no rate.
    expect(measureClientMetrics({ sentAt: 0, doneAt: 800, outputTokens: 0 })).toEqual({
      ttftMs: 800,
      latencyMs: 800,
      tokensPerSecond: null,
    });
    // First token at 1 s, 11 deltas by 1.5 s: 22 tokens/s, not 11 over the 1.5 s since sending.
    expect(measureClientMetrics({ sentAt: 0, firstTokenAt: 1_000, doneAt: 1_500, outputTokens: 11 })).toEqual({
      ttftMs: 1_000,
      latencyMs: 1_500,
      tokensPerSecond: 22,
    });
  });
});

describe('the same answer on every surface', () => {
  it('the CLI and the playground write the same tokens/s, each in its own words', () => {
    const { tokensPerSecond } = measureClientMetrics({
      sentAt: 10,
      firstTokenAt: 310,
      doneAt: 1_210,
      outputTokens: 37,
    });
    expect(tokensPerSecond).toBe(41.1);
    expect(cliRate(tokensPerSecond)).toBe('41.1 tokens/s');
    expect(playgroundRate(tokensPerSecond)).toBe('41.1');
    expect([cliRate(null), playgroundRate(null)]).toEqual(['–', '–']);
  });
});
