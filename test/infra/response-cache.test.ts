/**
 * The response cache as synthesised: with `cache.enabled`, its table (key, encryption, on demand, point-in-time
 * recovery, TTL), exactly GetItem and PutItem for the functions that call models and nothing for the others, the
 * variable that names it, the dashboard section, and cdk-nag clean; without it, no table and no permission. Bundling
 * is skipped.
 */
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV } from '../../config/runtime';
import { resourcesOfType, synth } from './helpers';

type Props = Record<string, any>;

const enabled = synth({ cache: { enabled: true } });
const { template } = enabled;
const functions = resourcesOfType(template, 'AWS::Lambda::Function');
const policies = resourcesOfType(template, 'AWS::IAM::Policy');
const [cacheTableId, cacheTable] = resourcesOfType(template, 'AWS::DynamoDB::Table').find(([id]) =>
  id.startsWith('ResponseCache'),
)!;

/** The actions a function's role may perform on the cache table. */
function cacheTableActions(fn: Props): string[] {
  const roleId = fn.Role['Fn::GetAtt'][0] as string;
  return policies
    .filter(([, p]) => (p.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
    .filter((s) => JSON.stringify(s.Resource).includes(cacheTableId))
    .flatMap((s) => ([] as string[]).concat(s.Action))
    .sort();
}

const MODEL_CALLERS = ['chat-stream', 'chat', 'openai-chat', 'report-worker'];

describe('response cache table (cache.enabled)', () => {
  test('keyed by key, on demand, encrypted (AWS managed key), point-in-time recoverable, TTL on expiresAt', () => {
    expect(cacheTable).toMatchObject({
      KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('is destroyed with the stack: every entry can be produced again and expires anyway', () => {
    expect(template.toJSON().Resources[cacheTableId]).toMatchObject({
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });

  test('the functions that call models may only GetItem and PutItem on it; no other function may touch it', () => {
    const seen: string[] = [];
    for (const [, fn] of functions) {
      const name = String(fn.Description ?? '').replace(/^genai-api /, '');
      const actions = cacheTableActions(fn);
      const variables = fn.Environment?.Variables ?? {};
      if (MODEL_CALLERS.includes(name)) {
        seen.push(name);
        expect([name, actions]).toEqual([name, ['dynamodb:GetItem', 'dynamodb:PutItem']]);
        expect(variables[ENV.cacheTable]).toEqual({ Ref: cacheTableId });
      } else {
        expect([name, actions]).toEqual([name, []]);
        expect(variables[ENV.cacheTable]).toBeUndefined();
      }
    }
    expect(seen.sort()).toEqual([...MODEL_CALLERS].sort());
  });

  test('the dashboard shows the hit rate and the tokens and dollars saved', () => {
    const [, dashboard] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard')[0];
    const body = JSON.stringify(dashboard.DashboardBody);
    expect(body).toContain('Cache hit rate by endpoint');
    expect(body).toContain('CacheHits');
    expect(body).toContain('CacheTokensSaved');
    expect(body).toContain('CacheUsdSaved');
  });

  test('cdk-nag reports nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(enabled.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });
});

describe('response cache off (the default)', () => {
  test('deploys no cache table, no permission and no variable', () => {
    const off = synth().template;
    expect(resourcesOfType(off, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('ResponseCache'))).toEqual([]);
    for (const [, fn] of resourcesOfType(off, 'AWS::Lambda::Function'))
      expect(fn.Environment?.Variables?.[ENV.cacheTable]).toBeUndefined();
    expect(JSON.stringify(off.toJSON())).not.toContain('Cache hit rate');
  });
});
