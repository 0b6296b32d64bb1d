/** What the SQS-triggered report functions share: reading a job message, and the retry-later signal. */
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import type { SQSRecord } from 'aws-lambda';
import { z } from 'zod';

const jobBodySchema = JSONStringified(z.object({ reportId: z.string().min(1).max(100) }));

/** The report a job message is about, or undefined for a malformed message (which can never succeed). */
export function reportIdOf(record: Pick<SQSRecord, 'body'>): string | undefined {
  const parsed = jobBodySchema.safeParse(record.body);
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
