/** What the stack hands to `Observability`: its functions by label, and the reports pipeline's dead-letter queues. */
import { Duration, Stack } from 'aws-cdk-lib';
import { Function as LambdaFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { AppConfig } from '../../../config/schema';
import { OUTPUT_SUBSCRIBER_DEAD_LETTER_QUEUE_URL, OUTPUT_WEBHOOK_DEAD_LETTER_QUEUE_URL } from '../../outputs';
import type { ReportsPipeline } from '../reports-pipeline';
import type { WatchedDeadLetterQueue } from './alarms';

/**
 * Every Lambda function under `scope`, by a label made of its construct path below the stack (`Chat-ChatStream`,
 * `Reports-Worker`; a trailing `Function` segment, as in `BaseFunction`, is left out). Call it once every function
 * exists, so functions added to the stack later are covered without a list to keep up to date.
 */
export function lambdaFunctionsIn(scope: IConstruct): Record<string, IFunction> {
  const depth = Stack.of(scope).node.scopes.length;
  const found: Record<string, IFunction> = {};
  for (const c of scope.node.findAll()) {
    if (!(c instanceof LambdaFunction)) continue;
    const segments = c.node.scopes.slice(depth).map((s) => s.node.id);
    if (segments.length > 1 && segments[segments.length - 1] === 'Function') segments.pop();
    found[segments.join('-')] = c;
  }
  return found;
}

/** The reports pipeline's dead-letter queues, each with what its messages mean and what to do. */
export function reportsDeadLetterQueues(
  reports: ReportsPipeline,
  config: Pick<AppConfig['reports'], 'workerTimeoutSeconds'>,
): WatchedDeadLetterQueue[] {
  return [
    {
      name: 'ReportJobs',
      queue: reports.jobDeadLetterQueue,
      runbook:
        'Report jobs that exhausted their deliveries have stayed in the job dead-letter queue: the backstop function ' +
        "(which marks them FAILED and publishes their event) is failing or not polling. Check the backstop's errors " +
        'and logs ("exhausted report job") and its SQS event source mapping; once it works it drains the queue by itself.',
      // The backstop waits out a live worker's lease (at most the worker timeout), retrying every 90 s.
      drainedWithin: Duration.seconds(config.workerTimeoutSeconds).plus(Duration.minutes(2)),
    },
    {
      name: 'Webhooks',
      queue: reports.webhookDeadLetterQueue,
      runbook:
        'Per-report callbacks could not be delivered (webhooks.maxAttempts attempts, a receiver answering 4xx, or a ' +
        'failed sender invocation). Each message names the url and the reason (docs/reports.md). Fix the receiver or ' +
        `tell the client, then purge or replay the messages; they are kept 14 days (stack output ${OUTPUT_WEBHOOK_DEAD_LETTER_QUEUE_URL}).`,
    },
    {
      name: 'Subscribers',
      queue: reports.subscriberDeadLetterQueue,
      runbook:
        "A deploy-time subscriber did not accept report events within EventBridge's retry policy. The message is the " +
        'event, the reason is in its attributes. Fix the subscriber endpoint or its key secret, then replay the ' +
        `messages; they are kept 14 days (stack output ${OUTPUT_SUBSCRIBER_DEAD_LETTER_QUEUE_URL}).`,
    },
  ];
}
