/** How the playground tells a person what went wrong, from the client's typed errors. */
import { GenAIError } from '../../clients/typescript/src';

/** An in-band stream error (`event: error`): the contract's error body. */
export interface StreamErrorBody {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

/** One line naming the error's code and HTTP status, its message, and when a retry may help. */
export function describeError(err: unknown): string {
  if (err instanceof GenAIError) {
    if (err.code === 'NETWORK_ERROR')
      return `NETWORK_ERROR: the API could not be reached (${err.message}). Check the API URL; a page on another origin also needs the API to allow it (CORS).`;
    const retry = err.retryAfterSeconds === undefined ? '' : ` Retry after ${err.retryAfterSeconds} s.`;
    return `${err.code} (${err.status}): ${err.message}${retry}`;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** An in-band error, as {@link describeError} words a thrown one. */
export function describeStreamError(error: StreamErrorBody): string {
  return `${error.code}: ${error.message}${error.retryable ? ' (retryable)' : ''}`;
}

/** The HTTP status of a client error, when the API answered. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof GenAIError && err.status > 0 ? err.status : undefined;
}
