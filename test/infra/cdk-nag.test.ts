import { AwsSolutionsChecks } from 'cdk-nag';
import { synth } from './helpers';

describe('cdk-nag AWS Solutions checks', () => {
  it.each([
    ['default configuration', undefined],
    [
      'inference profiles, a foundation model and an ARN in the chain',
      {
        models: {
          primary: 'global.anthropic.claude-sonnet-4-20250514-v1:0',
          fallbacks: [
            'anthropic.claude-3-5-haiku-20241022-v1:0',
            'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x',
          ],
        },
      },
    ],
  ])('report no unacknowledged errors or warnings (%s)', (_name, genai) => {
    const { app } = synth(genai);
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});
