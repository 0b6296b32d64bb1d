/**
 * Account-level isolation as synthesised: the report worker's event source mapping caps its concurrency, reserved
 * concurrency reaches exactly the functions configured with it, and an alarm watches the account's concurrency. Bad
 * values fail at synth naming the field. Bundling is skipped.
 */
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../lib/app';
import { createApp, resourcesOfType, synth } from './helpers';

const build = (genai: unknown) => () => buildApp(createApp(genai), { nag: false });

const defaults = synth().template;
const configured = synth({
  reports: { maxConcurrency: 25 },
  functions: { 'chat-stream': { reservedConcurrency: 300 }, 'report-worker': { reservedConcurrency: 25 } },
  observability: { accountConcurrencyAlarm: 2400 },
});

/** The logical id of a function, by its folder name (its description is `<serviceName> <name>`). */
function functionId(template: typeof defaults, name: string): string {
  const found = resourcesOfType(template, 'AWS::Lambda::Function').find(
    ([, p]) => p.Description === `genai-api ${name}`,
  );
  if (!found) throw new Error(`no function ${name}`);
  return found[0];
}

/** The event source mapping that invokes a function. */
function mappingOf(template: typeof defaults, name: string): Record<string, any> {
  const id = functionId(template, name);
  const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').filter(
    ([, p]) => p.FunctionName?.Ref === id,
  );
  expect(mappings).toHaveLength(1);
  return mappings[0][1];
}

function alarmOnAccountConcurrency(template: typeof defaults): Record<string, any> {
  const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').filter(
    ([, p]) => p.MetricName === 'ClaimedAccountConcurrency',
  );
  expect(alarms).toHaveLength(1);
  return alarms[0][1];
}

describe('report worker maximum concurrency', () => {
  test('the job queue mapping runs at most reports.maxConcurrency workers: 10 by default', () => {
    expect(mappingOf(defaults, 'report-worker').ScalingConfig).toEqual({ MaximumConcurrency: 10 });
  });

  test('a configured reports.maxConcurrency reaches the mapping', () => {
    expect(mappingOf(configured.template, 'report-worker').ScalingConfig).toEqual({ MaximumConcurrency: 25 });
  });

  test('the dead-letter backstop is not capped by it', () => {
    expect(mappingOf(defaults, 'report-dlq').ScalingConfig).toBeUndefined();
  });
});

describe('reserved concurrency per function', () => {
  test('absent from every function unless configured', () => {
    const functions = resourcesOfType(defaults, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(14);
    for (const [, fn] of functions) expect(fn.ReservedConcurrentExecutions).toBeUndefined();
  });

  test('set on exactly the configured functions', () => {
    const reserved = Object.fromEntries(
      resourcesOfType(configured.template, 'AWS::Lambda::Function')
        .filter(([, p]) => p.ReservedConcurrentExecutions !== undefined)
        .map(([, p]) => [p.Description, p.ReservedConcurrentExecutions]),
    );
    expect(reserved).toEqual({ 'genai-api chat-stream': 300, 'genai-api report-worker': 25 });
  });

  test('stays a deploy-time setting: the functions do not receive it', () => {
    const chat = resourcesOfType(configured.template, 'AWS::Lambda::Function').find(
      ([, p]) => p.Description === 'genai-api chat',
    )![1];
    const runtime = JSON.parse(chat.Environment.Variables.GENAI_CONFIG);
    expect(runtime.functions).toBeUndefined();
    expect(runtime.observability.accountConcurrencyAlarm).toBeUndefined();
    expect(runtime.reports.maxConcurrency).toBe(25);
  });
});

describe('account concurrency alarm', () => {
  test('ClaimedAccountConcurrency of AWS/Lambda, account-wide, Maximum over 1 minute at 800 or above by default', () => {
    expect(alarmOnAccountConcurrency(defaults)).toMatchObject({
      AlarmName: 'GenAiApi-lambda-account-concurrency',
      Namespace: 'AWS/Lambda',
      MetricName: 'ClaimedAccountConcurrency',
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 800,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarmOnAccountConcurrency(defaults).Dimensions).toBeUndefined();
  });

  test('notifies the alarm topic on ALARM and on OK, and says what to check', () => {
    const [[topicId]] = resourcesOfType(defaults, 'AWS::SNS::Topic');
    const alarm = alarmOnAccountConcurrency(defaults);
    expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(alarm.OKActions).toEqual([{ Ref: topicId }]);
    expect(alarm.AlarmDescription).toContain('observability.accountConcurrencyAlarm');
    expect(alarm.AlarmDescription).toContain('Service Quotas');
    expect(alarm.AlarmDescription).toContain('reservedConcurrency');
  });

  test('the threshold follows observability.accountConcurrencyAlarm', () => {
    expect(alarmOnAccountConcurrency(configured.template).Threshold).toBe(2400);
  });
});

describe('bad values fail at synth naming the field', () => {
  test.each([
    [{ reports: { maxConcurrency: 1 } }, /reports\.maxConcurrency: must be at least 2/],
    [{ reports: { maxConcurrency: 1001 } }, /reports\.maxConcurrency: must be at most 1000/],
    [{ reports: { maxConcurrency: 2.5 } }, /reports\.maxConcurrency: must be an integer/],
    [{ functions: { chat: { reservedConcurrency: 0 } } }, /functions\.chat\.reservedConcurrency: must be at least 1/],
    [{ functions: { chat: { reservedConcurrency: -5 } } }, /functions\.chat\.reservedConcurrency/],
    [{ functions: { chat: { reservedConcurrency: '10' } } }, /functions\.chat\.reservedConcurrency: must be a number/],
    [{ functions: { 'chat-strem': { reservedConcurrency: 10 } } }, /functions\.chat-strem: is not a known field/],
    [{ functions: { chat: { reserved: 10 } } }, /functions\.chat\.reserved: is not a known field/],
    [
      { functions: { 'report-worker': { reservedConcurrency: 5 } } },
      /functions\.report-worker\.reservedConcurrency: must be at least reports\.maxConcurrency \(10\)/,
    ],
    [{ observability: { accountConcurrencyAlarm: 0 } }, /observability\.accountConcurrencyAlarm: must be at least 1/],
  ])('%j', (genai, message) => {
    expect(build(genai)).toThrow(message);
  });
});

describe('cdk-nag', () => {
  test('no unacknowledged findings with reserved concurrency and a worker cap configured', () => {
    const report = new AwsSolutionsChecks().validateScope(configured.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });
});
