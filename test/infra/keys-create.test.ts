import { createHash } from 'node:crypto';
import { OUTPUT_USERS_TABLE_NAME, usagePlanOutputKey } from '../../lib/outputs';
import { parseArgs, targetsFromOutputs, issueApiKey, UsageError, type Clients } from '../../scripts/create-api-key';

describe('create-api-key arguments', () => {
  it('reads --flag value and --flag=value, with the stack name defaulted', () => {
    expect(parseArgs(['--user', 'alice', '--plan=pro'])).toEqual({
      userId: 'alice',
      plan: 'pro',
      stackName: 'GenAiApi',
    });
    expect(
      parseArgs(['--user=bob@example.com', '--plan', 'free', '--stack', 'Other', '--region', 'eu-west-1'], 'Cfg'),
    ).toEqual({
      userId: 'bob@example.com',
      plan: 'free',
      stackName: 'Other',
      region: 'eu-west-1',
    });
    expect(parseArgs(['--plan', 'free', '--user', 'u1'], 'FromCdkJson')).toMatchObject({ stackName: 'FromCdkJson' });
  });

  it('answers help', () => {
    expect(parseArgs(['--help'])).toBe('help');
  });

  it.each([
    [['--plan', 'free'], /--user is required/],
    [['--user', 'alice'], /--plan is required/],
    [['--user'], /--user needs a value/],
    [['--user', '--plan', 'free'], /--user needs a value/],
    [['--user', 'alice', '--plan', 'Free'], /--plan "Free"/],
    [['--user', 'a b', '--plan', 'free'], /--user "a b"/],
    [['--user', 'alice', '--plan', 'free', '--region', 'mars'], /--region "mars"/],
    [['--user', 'alice', '--plan', 'free', '--stack', '1x'], /--stack "1x"/],
    [['--user', 'a', '--user', 'b', '--plan', 'free'], /--user given twice/],
    [['--user', 'alice', '--plan', 'free', '--color'], /Unknown argument "--color"/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('create-api-key stack outputs', () => {
  const outputs = [
    { OutputKey: usagePlanOutputKey('free'), OutputValue: 'plan-free' },
    { OutputKey: usagePlanOutputKey('team-eu'), OutputValue: 'plan-team' },
    { OutputKey: OUTPUT_USERS_TABLE_NAME, OutputValue: 'users-table' },
  ];

  it("finds the plan's usage plan and the users table", () => {
    expect(targetsFromOutputs(outputs, 'S', 'team-eu')).toEqual({
      usagePlanId: 'plan-team',
      usersTableName: 'users-table',
    });
  });

  it('names the plans the stack has when the plan is unknown', () => {
    expect(() => targetsFromOutputs(outputs, 'S', 'pro')).toThrow(
      /no usage plan for plan "pro".*UsagePlanIdFree, UsagePlanIdTeamEu/,
    );
  });
});

describe('create-api-key issuing (fake clients, no AWS)', () => {
  function fakeClients(failOn?: string) {
    const calls: { name: string; input: any }[] = [];
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
    const clients = { cloudFormation: client, apiGateway: client, dynamo: client } as unknown as Clients;
    return { clients, calls };
  }
  const args = { userId: 'alice', plan: 'pro', stackName: 'GenAiApi' };
  const now = new Date('2026-03-04T05:06:07.000Z');

  it('creates a tagged key, binds it to the plan and records the owner with a conditional put', async () => {
    const { clients, calls } = fakeClients();
    await expect(issueApiKey(clients, args, now)).resolves.toEqual({
      apiKeyId: 'key-id',
      value: 'key-value',
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
    await expect(issueApiKey(clients, args, now)).rejects.toThrow(/PutCommand failed/);
    expect(calls.at(-1)).toEqual({ name: 'DeleteApiKeyCommand', input: { apiKey: 'key-id' } });
  });
});
