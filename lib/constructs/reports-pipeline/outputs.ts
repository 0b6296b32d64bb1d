import { CfnOutput, Stack } from 'aws-cdk-lib';
import {
  OUTPUT_REPORT_JOB_DEAD_LETTER_QUEUE_URL,
  OUTPUT_REPORTS_EVENT_BUS_NAME,
  OUTPUT_REPORTS_TABLE_NAME,
  OUTPUT_SUBSCRIBER_DEAD_LETTER_QUEUE_URL,
  OUTPUT_WEBHOOK_DEAD_LETTER_QUEUE_URL,
  OUTPUT_WEBHOOK_SIGNING_SECRET_ARN,
} from '../../outputs';
import type { ReportsPipeline } from './index';

/** The pipeline's stack outputs, named in `lib/outputs.ts`; on the stack, so their ids are the output names. */
export function addReportsOutputs(pipeline: ReportsPipeline): void {
  const stack = Stack.of(pipeline);
  new CfnOutput(stack, OUTPUT_REPORTS_TABLE_NAME, {
    value: pipeline.table.tableName,
    description: 'Reports and idempotency keys',
  });
  new CfnOutput(stack, OUTPUT_REPORTS_EVENT_BUS_NAME, {
    value: pipeline.eventBus.eventBusName,
    description: 'report.completed|failed|cancelled events',
  });
  new CfnOutput(stack, OUTPUT_WEBHOOK_SIGNING_SECRET_ARN, {
    value: pipeline.webhookSigningSecret.secretArn,
    description: 'Standard Webhooks signing key of per-report callbacks (receivers use whsec_<value>)',
  });
  new CfnOutput(stack, OUTPUT_WEBHOOK_DEAD_LETTER_QUEUE_URL, {
    value: pipeline.webhookDeadLetterQueue.queueUrl,
    description: 'Undeliverable callbacks',
  });
  new CfnOutput(stack, OUTPUT_SUBSCRIBER_DEAD_LETTER_QUEUE_URL, {
    value: pipeline.subscriberDeadLetterQueue.queueUrl,
    description: 'Events deploy-time subscribers did not accept',
  });
  new CfnOutput(stack, OUTPUT_REPORT_JOB_DEAD_LETTER_QUEUE_URL, {
    value: pipeline.jobDeadLetterQueue.queueUrl,
    description: 'Exhausted report jobs',
  });
}
