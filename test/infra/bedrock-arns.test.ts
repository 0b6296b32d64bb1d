import { classifyModel, modelChainResourceArns, modelResourceArns } from '../../lib/bedrock-arns';

const ctx = { partition: 'aws', region: 'us-east-1', account: '123456789012' };

describe('Bedrock model ARNs', () => {
  it('grants a foundation model id in the Bedrock Region only', () => {
    expect(modelResourceArns(ctx, 'anthropic.claude-3-5-haiku-20241022-v1:0')).toEqual([
      'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it.each(['us', 'eu', 'apac', 'global', 'us-gov', 'jp'])(
    'grants a %s. inference profile and its foundation model in every destination Region',
    (prefix) => {
      expect(modelResourceArns(ctx, `${prefix}.anthropic.claude-sonnet-4-20250514-v1:0`)).toEqual([
        `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${prefix}.anthropic.claude-sonnet-4-20250514-v1:0`,
        'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
      ]);
    },
  );

  it('passes an application inference profile ARN through unchanged', () => {
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123';
    expect(modelResourceArns(ctx, arn)).toEqual([arn]);
  });

  it('adds the routed foundation model to a system-defined inference profile ARN', () => {
    const arn =
      'arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0';
    expect(modelResourceArns(ctx, arn)).toEqual([
      arn,
      'arn:aws-us-gov:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
    ]);
  });

  it('does not mistake a provider name for a Region prefix', () => {
    expect(classifyModel('amazon.nova-pro-v1:0')).toEqual({ kind: 'foundation-model', id: 'amazon.nova-pro-v1:0' });
    expect(classifyModel('meta.llama3-1-70b-instruct-v1:0').kind).toBe('foundation-model');
  });

  it('lists a chain without duplicates and never a bare "*"', () => {
    const arns = modelChainResourceArns(ctx, [
      'us.anthropic.claude-sonnet-4-20250514-v1:0',
      'eu.anthropic.claude-sonnet-4-20250514-v1:0',
      'amazon.nova-pro-v1:0',
    ]);
    expect(arns).toEqual([
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0',
      'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0',
    ]);
    expect(arns).not.toContain('*');
  });
});
