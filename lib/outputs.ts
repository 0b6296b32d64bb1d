/**
 * Names of the stack outputs, shared by the stack (which writes them) and `scripts/create-api-key.ts` (which reads
 * them with DescribeStacks). Plain TypeScript, no aws-cdk-lib, so the script stays light.
 */

export const OUTPUT_API_URL = 'ApiUrl';
export const OUTPUT_API_ID = 'ApiId';
export const OUTPUT_USERS_TABLE_NAME = 'UsersTableName';
export const OUTPUT_GUARD_TABLE_NAME = 'GuardTableName';
export const OUTPUT_ALARM_TOPIC_ARN = 'AlarmTopicArn';

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
  return `UsagePlanId${pascalCase(plan)}`;
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
