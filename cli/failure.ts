/**
 * How a failed command ends: one place that turns what a command threw into the stderr lines and the exit status
 * documented in errors.ts (and `genai --help`).
 */
import { GenAIError } from '../clients/typescript/src';
import type { CliContext, Output } from './context';
import {
  CommandError,
  EXIT,
  type ExitStatus,
  isAbort,
  isConnectionFailure,
  UnreachableError,
  UsageError,
} from './errors';

/** The innermost message of an error's `cause` chain: "connect ECONNREFUSED 127.0.0.1:9" rather than "fetch failed". */
function rootCause(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.message) message = e.message;
  }
  return message;
}

/**
 * `error: <CODE>: <message>`, then the state already reached (`status: COMPLETED`, on `ALREADY_FINISHED`), `retry
 * after <N>s` and the request id when known.
 */
export function printApiError(
  stderr: Output,
  error: {
    readonly code: string;
    readonly message: string;
    readonly retryAfterSeconds?: number;
    readonly requestId?: string;
    readonly finalStatus?: string;
  },
): void {
  stderr.write(`error: ${error.code}: ${error.message}\n`);
  if (error.finalStatus !== undefined) stderr.write(`status: ${error.finalStatus}\n`);
  if (error.retryAfterSeconds !== undefined)
    stderr.write(`retry after ${Math.max(0, Math.ceil(error.retryAfterSeconds))}s\n`);
  if (error.requestId) stderr.write(`request id: ${error.requestId}\n`);
}

/** Prints what went wrong and returns the exit status. */
export function reportFailure(err: unknown, ctx: Pick<CliContext, 'stderr' | 'signal'>): ExitStatus {
  const { stderr } = ctx;
  if (isAbort(err, ctx.signal)) {
    stderr.write('interrupted\n');
    return EXIT.interrupted;
  }
  if (err instanceof UsageError) {
    stderr.write(`error: ${err.message}\n`);
    stderr.write(`run "genai ${err.command ? `${err.command} ` : ''}--help" for usage\n`);
    return EXIT.usage;
  }
  if (err instanceof UnreachableError) {
    stderr.write(`error: ${err.code}: ${err.message}\n`);
    return EXIT.unreachable;
  }
  if (err instanceof GenAIError) {
    if (err.code === 'NETWORK_ERROR') {
      stderr.write(`error: UNREACHABLE: ${err.message} (${rootCause(err)})\n`);
      return EXIT.unreachable;
    }
    printApiError(stderr, err);
    return EXIT.failed;
  }
  if (err instanceof CommandError) {
    printApiError(stderr, err);
    return EXIT.failed;
  }
  if (isConnectionFailure(err)) {
    stderr.write(`error: UNREACHABLE: ${rootCause(err)}\n`);
    return EXIT.unreachable;
  }
  // Other errors name themselves: the AWS SDK's (AccessDeniedException, CredentialsProviderError…), ConfigError.
  const name = err instanceof Error && err.name && err.name !== 'Error' ? err.name : 'INTERNAL_ERROR';
  stderr.write(`error: ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.failed;
}
