/**
 * `genai keys create` for a deployed stack: its arguments, the stack outputs it reads, and the AWS calls it makes (with
 * fake clients, no AWS). The local cloud's side is tested end to end in test/clients/cli.test.ts.
 */
import { createHash } from 'node:crypto';
import { type AwsKeyClients, issueAwsApiKey, targetsFromOutputs } from '../../cli/admin/aws-keys';
import { parseOptions } from '../../cli/args';
import { command as keys, KEYS_OPTIONS, keysCreateArgs } from '../../cli/commands/keys';
import { UsageError } from '../../cli/errors';
import { OUTPUT_USERS_TABLE_NAME, usagePlanOutputKey } from '../../lib/outputs';

describe('keys create arguments', () => {
  const parse = (argv: string[], stack = 'GenAiApi') =>
    keysCreateArgs(parseOptions('keys', argv, KEYS_OPTIONS), () => stack);

  it('reads --flag value and --flag=value; no stack or region means the local cloud', () => {
    expect(parse(['create', '--user', 'alice', '--plan=pro'])).toEqual({ userId: 'alice', plan: 'pro', json: false });
  });

  it('targets a deployed stack with --stack or --region, the stack name defaulting to the configured one', () => {
    expect(
      parse(['create', '--user=bob@example.com', '--plan', 'free', '--stack', 'Other', '--region', 'eu-west-1'], 'Cfg'),
    ).toEqual({
      userId: 'bob@example.com',
      plan: 'free',
      aws: { stackName: 'Other', region: 'eu-west-1' },
      json: false,
    });
    expect(
      parse(['create', '--plan', 'free', '--user', 'u1', '--region', 'us-east-1', '--json'], 'FromCdkJson'),
    ).toEqual({ userId: 'u1', plan: 'free', aws: { stackName: 'FromCdkJson', region: 'us-east-1' }, json: true });
  });

  it('answers --help before checking anything else', async () => {
    let out = '';
    const write = (text: string) => (out += text);
    const ctx = { env: {}, stdout: { write }, stderr: { write }, signal: new AbortController().signal };
    await expect(keys.run(['create', '--user', 'a b', '-h'], ctx)).resolves.toBe(0);
    expect(out).toMatch(/^Usage: genai keys create --user <id> --plan <plan>/);
  });

  it.each([
    [['create', '--plan', 'free'], /--user is required/],
    [['create', '--user', 'alice'], /--plan is required/],
    [['create', '--user'], /--user needs a value/],
    [['create', '--user', '--plan', 'free'], /--user needs a value/],
    [['create', '--user', 'alice', '--plan', 'Free'], /--plan "Free"/],
    [['create', '--user', 'a b', '--plan', 'free'], /--user "a b"/],
    [['create', '--user', 'alice', '--plan', 'free', '--region', 'mars'], /--region "mars"/],
    [['create', '--user', 'alice', '--plan', 'free', '--stack', '1x'], /--stack "1x"/],
    [['create', '--user', 'a', '--user', 'b', '--plan', 'free'], /--user given twice/],
    [['create', '--user', 'alice', '--plan', 'free', '--color'], /unknown option --color/],
    [['create', '--json=yes', '--user', 'alice', '--plan', 'free'], /--json takes no value/],
    [['--user', 'alice', '--plan', 'free'], /missing create/],
    [['delete', '--user', 'alice'], /unknown keys command "delete"/],
  ])('rejects %j', (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });
});

describe('keys create stack outputs', () => {
  const outputs = new Map([
    [usagePlanOutputKey('free'), 'plan-free'],
    [usagePlanOutputKey('team-eu'), 'plan-team'],
    [OUTPUT_USERS_TABLE_NAME, 'users-table'],
  ]);

  it("finds the plan's usage plan and the users table", () => {
    expect(targetsFromOutputs(outputs, 'S', 'team-eu')).toEqual({
      usagePlanId: 'plan-team',
      usersTableName: 'users-table',
    });
  });

  it('names the plans the stack has when the plan is unknown', () => {
    expect(() => targetsFromOutputs(outputs, 'S', 'pro')).toThrow(UsageError);
    expect(() => targetsFromOutputs(outputs, 'S', 'pro')).toThrow(
      /--plan "pro": stack S has no usage plan for it.*UsagePlanIdFree, UsagePlanIdTeamEu/,
    );
  });
});

describe('keys create issuing on a stack (fake clients, no AWS)', () => {
  function fakeClients(failOn?: string) {
    const calls: { name: string; input: unknown }[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: unknown }) => {
        const name = command.constructor.name;
        calls.push({ name, input: command.input });
        if (name === failOn) throw new Error(`${name} failed`);
        if (name === 'DescribeStacksCommand') {
          return {
            Stacks: [
              {
                Outputs: [
                  { OutputKey: usagePlanOutputKey('pro'), OutputValue: 'up-1' },
                  { OutputKey: OUTPUT_USERS_TABLE_NAME, OutputValue: 'users' },
                ],
              },
            ],
          };
        }
        if (name === 'CreateApiKeyCommand') return { id: 'key-id', value: 'key-value' };
        return {};
      },
    };
    const clients = { cloudFormation: client, apiGateway: client, dynamo: client } as unknown as AwsKeyClients;
    return { clients, calls };
  }
  const args = { userId: 'alice', plan: 'pro', stackName: 'GenAiApi' };
  const now = new Date('2026-03-04T05:06:07.000Z');

  it('creates a tagged key, binds it to the plan and records the owner with a conditional put', async () => {
    const { clients, calls } = fakeClients();
    await expect(issueAwsApiKey(clients, args, now)).resolves.toEqual({
      apiKeyId: 'key-id',
      key: 'key-value',
      userId: 'alice',
      plan: 'pro',
      createdAt: '2026-03-04T05:06:07.000Z',
    });
    expect(calls.map((c) => c.name)).toEqual([
      'DescribeStacksCommand',
      'CreateApiKeyCommand',
      'CreateUsagePlanKeyCommand',
      'PutCommand',
    ]);
    expect(calls[1].input).toMatchObject({
      name: 'alice-pro-2026-03-04',
      enabled: true,
      tags: { userId: 'alice', plan: 'pro' },
    });
    expect(calls[2].input).toEqual({ usagePlanId: 'up-1', keyId: 'key-id', keyType: 'API_KEY' });
    expect(calls[3].input).toEqual({
      TableName: 'users',
      // The key's hash, never the key: the authorizer looks keys up by hash.
      Item: {
        keyHash: createHash('sha256').update('key-value').digest('hex'),
        apiKeyId: 'key-id',
        userId: 'alice',
        plan: 'pro',
        createdAt: '2026-03-04T05:06:07.000Z',
      },
      ConditionExpression: 'attribute_not_exists(keyHash)',
    });
    expect(JSON.stringify(calls[3].input)).not.toContain('"key-value"');
  });

  it('deletes the new key again when recording the owner fails', async () => {
    const { clients, calls } = fakeClients('PutCommand');
    await expect(issueAwsApiKey(clients, args, now)).rejects.toThrow(/PutCommand failed/);
    expect(calls.at(-1)).toEqual({ name: 'DeleteApiKeyCommand', input: { apiKey: 'key-id' } });
  });

  it('names a stack that does not exist, and creates nothing', async () => {
    const calls: string[] = [];
    const missing = {
      send: async (command: { constructor: { name: string } }) => {
        calls.push(command.constructor.name);
        throw Object.assign(new Error('Stack with id GenAiApi does not exist'), { name: 'ValidationError' });
      },
    };
    const clients = { cloudFormation: missing, apiGateway: missing, dynamo: missing } as unknown as AwsKeyClients;
    await expect(issueAwsApiKey(clients, args, now)).rejects.toMatchObject({
      code: 'STACK_NOT_FOUND',
      message: 'Stack GenAiApi not found',
    });
    expect(calls).toEqual(['DescribeStacksCommand']);
  });
});
