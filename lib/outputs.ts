/**
 * Names of the stack outputs, shared by the stack (which writes them), the runbooks and dashboard text that point at
 * them, `genai keys create` (cli/admin/, which reads them with DescribeStacks) and the tests. Plain TypeScript, no
 * aws-cdk-lib, so the CLI stays light.
 */

export const OUTPUT_API_URL = 'ApiUrl';
export const OUTPUT_API_ID = 'ApiId';
export const OUTPUT_USERS_TABLE_NAME = 'UsersTableName';
export const OUTPUT_GUARD_TABLE_NAME = 'GuardTableName';
export const OUTPUT_ALARM_TOPIC_ARN = 'AlarmTopicArn';
export const OUTPUT_REPORTS_TABLE_NAME = 'ReportsTableName';
export const OUTPUT_REPORTS_EVENT_BUS_NAME = 'ReportsEventBusName';
export const OUTPUT_WEBHOOK_SIGNING_SECRET_ARN = 'WebhookSigningSecretArn';
export const OUTPUT_WEBHOOK_DEAD_LETTER_QUEUE_URL = 'WebhookDeadLetterQueueUrl';
export const OUTPUT_SUBSCRIBER_DEAD_LETTER_QUEUE_URL = 'SubscriberDeadLetterQueueUrl';
export const OUTPUT_REPORT_JOB_DEAD_LETTER_QUEUE_URL = 'ReportJobDeadLetterQueueUrl';

/** Every usage plan output starts so: `UsagePlanId<Plan>`. */
export const OUTPUT_USAGE_PLAN_ID_PREFIX = 'UsagePlanId';

/** `free` → `Free`, `team-eu` → `TeamEu`: plan names as they appear in construct ids and output names. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}

/** Output that holds the usage plan id of a plan, e.g. `UsagePlanIdFree`. */
export function usagePlanOutputKey(plan: string): string {
  return `${OUTPUT_USAGE_PLAN_ID_PREFIX}${pascalCase(plan)}`;
}

/** Fails when two plan names would share one output (and one construct id), e.g. `team-a` and `team--a`. */
export function assertDistinctPlanKeys(plans: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const plan of plans) {
    const key = usagePlanOutputKey(plan);
    const other = seen.get(key);
    if (other !== undefined) throw new Error(`plans: "${other}" and "${plan}" would both be named ${key}; rename one`);
    seen.set(key, plan);
  }
}
