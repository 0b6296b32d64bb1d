/**
 * The exit statuses and stderr lines a script can rely on (`genai --help`, docs/cli.md):
 *
 * | status | meaning | stderr |
 * | --- | --- | --- |
 * | 0 | done | |
 * | 1 | the API (or AWS) answered with an error | `error: <CODE>: <message>`, then `retry after <N>s` when known |
 * | 2 | usage: a bad command, flag or value | `error: <message naming the flag>`, then where to find help |
 * | 3 | no API to talk to: the URL cannot be reached, or no local cloud runs and no `--url` was given | `error: UNREACHABLE: <message>` |
 * | 130 | interrupted (Ctrl-C) | `interrupted` |
 */

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** A mistake on the command line. The message names the flag or argument. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help explains it (`chat`, `keys create`), if any. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Nothing to talk to: the API or the local cloud cannot be reached, or none is running and none was named. */
export class UnreachableError extends Error {
  readonly code = 'UNREACHABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

/** A failure with a stable code that is not an HTTP answer of the API (a report that FAILED, an AWS error). */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Error codes of Node's networking that mean "nothing answers there". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** True when `err` (or an error in its `cause` chain) is a connection failure. */
export function isConnectionFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    // AggregateError from a dual-stack connect: every attempt failed.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every(isConnectionFailure)) return true;
  }
  return false;
}

/** True when `err` is the rejection of an aborted signal (Ctrl-C). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && (err === signal.reason || (err as Error)?.name === 'AbortError')) return true;
  return (err as Error)?.name === 'AbortError' && signal === undefined;
}
