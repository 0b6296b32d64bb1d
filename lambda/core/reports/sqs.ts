/** What the SQS-triggered report functions share: reading a job message, and the retry-later signal. */
import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';

const jobBodySchema = z.object({ reportId: z.string().check(z.minLength(1), z.maxLength(100)) });

/** The report a job message is about, or undefined for a malformed message (which can never succeed). */
export function reportIdOf(record: Pick<SQSRecord, 'body'>): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return undefined;
  }
  const parsed = z.safeParse(jobBodySchema, body);
  return parsed.success ? parsed.data.reportId : undefined;
}

export function receiveCountOf(record: Pick<SQSRecord, 'attributes'>): number {
  const count = Number(record.attributes?.ApproximateReceiveCount);
  return Number.isFinite(count) && count >= 1 ? count : 1;
}

/** Thrown from a record handler so the batch reports the record as failed and SQS delivers it again. */
export class RetryLaterError extends Error {
  constructor(
    readonly reportId: string,
    readonly delaySeconds: number,
    reason: string,
  ) {
    super(`Report ${reportId}: retry in ${delaySeconds} s (${reason})`);
    this.name = 'RetryLaterError';
  }
}
