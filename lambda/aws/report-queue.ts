/** The report job queue on SQS: enqueueing a job, and bringing a failed one back sooner than its visibility timeout. */
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ReportQueue } from '../core/reports/ports';

export class SqsReportQueue implements ReportQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(reportId: string, delaySeconds?: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify({ reportId }),
        ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}),
      }),
    );
  }

  /**
   * Brings a failed message back after `delaySeconds` instead of after the full visibility timeout. Best effort: if it
   * fails, the message still comes back, only later.
   */
  async delayRedelivery(receiptHandle: string, delaySeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: delaySeconds,
        }),
      );
      return true;
    } catch {
      return false;
    }
  }
}
