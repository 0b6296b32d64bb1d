/**
 * The CLI's pure parts, without a server: how the bench counts and summarises calls, the report progress line on a
 * terminal and on a pipe, and where the command word is among the options. (What it measures of an answer is the
 * typed client's, test/clients/client-metrics.test.ts.)
 */
import { splitCommand } from '../../cli/args';
import { count, type Sample, summarize } from '../../cli/load';
import { Progress } from '../../cli/progress';

describe('bench counts', () => {
  const ok = (mode: 'stream' | 'sync', ttftMs: number, latencyMs: number): Sample => ({
    mode,
    ok: true,
    metrics: { ttftMs, latencyMs, tokensPerSecond: 100 },
  });
  const failed = (status: number, code: string): Sample => ({ mode: 'stream', ok: false, status, code });

  it('splits failures into 429s, 5xx and the rest, with their shares and codes', () => {
    const samples = [
      ok('stream', 10, 50),
      failed(429, 'THROTTLED'),
      failed(429, 'TOKEN_BUDGET_EXCEEDED'),
      failed(503, 'MODEL_UNAVAILABLE'),
      failed(200, 'MODEL_STREAM_ERROR'),
      failed(0, 'TIMEOUT'),
      failed(403, 'FORBIDDEN'),
      ok('stream', 20, 60),
    ];
    expect(count(samples)).toEqual({
      requests: 8,
      ok: 2,
      rateLimited: 2,
      serverErrors: 1,
      otherErrors: 3,
      rateLimitedShare: 0.25,
      serverErrorShare: 0.125,
      otherErrorShare: 0.375,
      errors: {
        THROTTLED: 1,
        TOKEN_BUDGET_EXCEEDED: 1,
        MODEL_UNAVAILABLE: 1,
        MODEL_STREAM_ERROR: 1,
        TIMEOUT: 1,
        FORBIDDEN: 1,
      },
    });
  });

  it('takes percentiles over the successful calls only, and has none without one', () => {
    const samples = [...Array.from({ length: 99 }, (_, i) => ok('sync', i + 1, i + 2)), ok('sync', 1_000, 1_001)];
    const summary = summarize([...samples, failed(429, 'THROTTLED')]);
    expect(summary.ttftMs).toEqual({ p50: 50, p99: 99 });
    expect(summary.latencyMs).toEqual({ p50: 51, p99: 100 });
    expect(summarize([failed(429, 'THROTTLED')]).ttftMs).toEqual({ p50: null, p99: null });
    expect(count([])).toMatchObject({ requests: 0, rateLimitedShare: 0 });
  });
});

describe('report progress', () => {
  const sink = (isTTY: boolean) => {
    const out = { text: '', isTTY, write: (t: string) => (out.text += t) };
    return out;
  };

  it('on a pipe: one line per status change, nothing else', async () => {
    const out = sink(false);
    const progress = new Progress(out, 'report r1');
    progress.update('QUEUED');
    progress.update('QUEUED');
    await new Promise((resolve) => setTimeout(resolve, 250));
    progress.update('RUNNING');
    progress.stop();
    expect(out.text).toMatch(/^report r1: QUEUED \(\d+ ms\)\nreport r1: RUNNING \(\d+ ms\)\n$/);
  });

  it('on a terminal: a spinner with the time waited, cleared before each status line and at the end', async () => {
    const out = sink(true);
    const progress = new Progress(out, 'report r1');
    progress.update('QUEUED');
    await new Promise((resolve) => setTimeout(resolve, 250));
    progress.stop();
    // Carriage return and ANSI "erase to end of line", shown here as <clear>.
    const text = out.text.replaceAll('\r\x1b[K', '<clear>');
    expect(text).toMatch(/^<clear>report r1: QUEUED \(\d+ ms\)\n/);
    expect(text).toMatch(/<clear>[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] QUEUED \d+ ms/);
    expect(text.endsWith('<clear>')).toBe(true);
  });
});

describe('the command word', () => {
  it.each([
    [['chat', 'hi'], 'chat', ['hi']],
    [['--url', 'http://x', '--bearer', 'chat', 'hi'], 'chat', ['--url', 'http://x', '--bearer', 'hi']],
    [['--key=k', 'models', '--json'], 'models', ['--key=k', '--json']],
    [['--help'], undefined, ['--help']],
    [['--', 'chat'], undefined, ['--', 'chat']],
  ])('%j → %s', (argv, command, rest) => {
    expect(splitCommand(argv)).toEqual({ command, rest });
  });
});
