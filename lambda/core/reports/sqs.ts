/** What the SQS-triggered report functions share: reading a job message, and the retry-later signal. */
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { z } from 'zod';

const jobSchema = z.object({ reportId: z.string().min(1).max(100) });

/** The report a job message is about, or undefined for a malformed message (which can never succeed). */
export function reportIdOf(record: Pick<SQSRecord, 'body'>): string | undefined {
  try {
    const parsed = jobSchema.safeParse(JSON.parse(record.body));
    return parsed.success ? parsed.data.reportId : undefined;
  } catch {
    return undefined;
  }
}

export function receiveCountOf(record: Pick<SQSRecord, 'attributes'>): number {
  const count = Number(record.attributes?.ApproximateReceiveCount);
  return Number.isFinite(count) && count >= 1 ? count : 1;
}

/** Thrown from a record handler so the batch reports the record as failed and SQS delivers it again. */
export class RetryLaterError extends Error {
  constructor(readonly reportId: string, readonly delaySeconds: number, reason: string) {
    super(`Report ${reportId}: retry in ${delaySeconds} s (${reason})`);
    this.name = 'RetryLaterError';
  }
}

/**
 * Brings a failed message back after `delaySeconds` instead of after the full visibility timeout. Best effort: if it
 * fails, the message still comes back, only later.
 */
export async function delayRedelivery(client: SQSClient, queueUrl: string, receiptHandle: string, delaySeconds: number): Promise<boolean> {
  try {
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: delaySeconds }),
    );
    return true;
  } catch {
    return false;
  }
}
