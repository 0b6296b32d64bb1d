/**
 * The error codes a client can see, read from the error classes of `lambda/core/errors.ts` rather than listed again:
 * a new error class is in the description after the next `npm run openapi`, and the test that keeps
 * `docs/openapi.json` current fails until it is.
 */
import * as errors from '../lambda/core/errors';

export interface ErrorCodeFacts {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
}

type ApiErrorClass = new (message: string) => errors.ApiError;

const isApiErrorClass = (value: unknown): value is ApiErrorClass =>
  typeof value === 'function' && value.prototype instanceof errors.ApiError;

/** Every code of an exported {@link errors.ApiError} class, by code, in the order of status, then code. */
export function errorCatalogue(): ReadonlyMap<string, ErrorCodeFacts> {
  const facts = new Map<string, ErrorCodeFacts>();
  for (const value of Object.values(errors)) {
    if (!isApiErrorClass(value)) continue;
    // Status, code and retryable are fixed per class: one instance tells them.
    const { code, status, retryable } = new value('');
    const known = facts.get(code);
    if (known && known.status !== status)
      throw new Error(`Error code ${code} is answered with two statuses (${known.status}, ${status})`);
    facts.set(code, { code, status, retryable });
  }
  const sorted = [...facts.values()].sort((a, b) => a.status - b.status || a.code.localeCompare(b.code));
  return new Map(sorted.map((f) => [f.code, f]));
}
