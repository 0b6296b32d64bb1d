/**
 * Where report jobs and results live: the reports table and the queues. Every queue is encrypted (SSE-SQS) and
 * refuses plain HTTP; the table is encrypted, on demand, with point-in-time recovery and TTL.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { REPORTS_TABLE } from '../../../config/reports';
import { DataTable, type DataTableOptions } from '../table';

/** How long dead-letter queues keep messages: SQS's maximum, so an operator has two weeks to look and redrive. */
export const DLQ_RETENTION = Duration.days(14);

const QUEUE_DEFAULTS = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };

/** Removal policy and key of the reports table; it holds users' results, so it is retained by default. */
export type ReportsTableProps = DataTableOptions;

/** Reports (`report#<id>`) and idempotency keys (`idem#<user>#<hash>`), TTL on `expiresAt` (`config/reports.ts`). */
export class ReportsTable extends DataTable {
  constructor(scope: Construct, id: string, props: ReportsTableProps = {}) {
    super(scope, id, { ...props, definition: REPORTS_TABLE });
  }
}

export interface DeadLetterQueueProps {
  /**
   * Visibility timeout, for a queue a function consumes.
   * @default - SQS's default (30 seconds)
   */
  readonly visibilityTimeout?: Duration;
  /**
   * Why the queue needs no dead-letter queue of its own (cdk-nag AwsSolutions-SQS3); set for a queue nothing consumes.
   * @default - not acknowledged
   */
  readonly noDeadLetterQueueReason?: string;
}

/** A dead-letter queue: encrypted, TLS only, messages kept 14 days. */
export class DeadLetterQueue extends Queue {
  constructor(scope: Construct, id: string, props: DeadLetterQueueProps = {}) {
    super(scope, id, { ...QUEUE_DEFAULTS, retentionPeriod: DLQ_RETENTION, visibilityTimeout: props.visibilityTimeout });
    if (props.noDeadLetterQueueReason) {
      Validations.of(this).acknowledge({ id: 'AwsSolutions-SQS3', reason: props.noDeadLetterQueueReason });
    }
  }
}

export interface JobQueueProps {
  /** Where a job goes after `maxReceiveCount` deliveries. */
  readonly deadLetterQueue: IQueue;
  readonly maxReceiveCount: number;
  /** Longer than the worker's timeout (and so its lease): a message reappears only after its worker is gone. */
  readonly visibilityTimeout: Duration;
}

/** One message per report job: `{"reportId"}`, kept 4 days. */
export class JobQueue extends Queue {
  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id, {
      ...QUEUE_DEFAULTS,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: props.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
