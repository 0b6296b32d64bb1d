/**
 * `genai keys create --user <id> --plan <plan>`: issues an API key for a user on a plan, on the running local cloud by
 * default, or on a deployed stack with `--stack` / `--region`. The key is printed once, alone on stdout
 * (`KEY=$(npx genai keys create …)`); everything else goes to stderr.
 */
import { USER_ID_PATTERN } from '../../local/api-keys';
import { readLocalState } from '../../local/state-file';
import { createAwsKeyClients, type IssuedKey, issueAwsApiKey } from '../admin/aws-keys';
import { issueLocalApiKey } from '../admin/local-keys';
import { checkStackFlags, configuredStackName, STACK_OPTIONS } from '../admin/stack';
import { expectPositionals, type Parsed } from '../args';
import { defineCommand } from '../command';
import { EXIT, UnreachableError, UsageError } from '../errors';

export const KEYS_OPTIONS = {
  user: { type: 'string' },
  plan: { type: 'string' },
  ...STACK_OPTIONS,
  json: { type: 'boolean' },
} as const;

const PLAN = /^[a-z][a-z0-9-]{0,30}$/;

const HELP = `Usage: genai keys create --user <id> --plan <plan> [--stack <name>] [--region <region>] [--json]

Issues an API key for a user on a plan and prints it once, alone on stdout: KEY=$(npx genai keys create …).

Where: the running local cloud (npm start) by default, where the key works at once under its plan's limits. With
--stack or --region, the deployed stack: an API Gateway key tagged with the user and plan, added to the plan's usage
plan, and registered by its SHA-256 in the users table (the API's authorizer derives the user from it); if a step
fails after the key was created, the key is deleted again.

Options:
  --user <id>        the user the key belongs to: letters, digits and . _ @ + - (at most 128)
  --plan <plan>      a configured plan (config.plans), e.g. free or pro
  --stack <name>     the CloudFormation stack (default: stackName in cdk.json, else GenAiApi)
  --region <region>  its AWS Region (default: the AWS SDK's, e.g. AWS_REGION or the profile)
  --json             print {apiKeyId, key, userId, plan, createdAt, where} instead of the key alone
  -h, --help

AWS calls use the SDK's usual credentials: CloudFormation DescribeStacks, API Gateway CreateApiKey,
CreateUsagePlanKey (and DeleteApiKey on failure), DynamoDB PutItem on the users table.`;

export interface KeysCreateArgs {
  readonly userId: string;
  readonly plan: string;
  /** Set when the key is for a deployed stack. */
  readonly aws?: { readonly stackName: string; readonly region?: string };
  readonly json: boolean;
}

/** Checks the arguments of `keys create …`. Throws UsageError naming the flag. */
export function keysCreateArgs(
  { values, positionals }: Parsed<typeof KEYS_OPTIONS>,
  defaultStackName: () => string = () => configuredStackName() ?? 'GenAiApi',
): KeysCreateArgs {
  const [action] = expectPositionals('keys', positionals, ['create']);
  if (action !== 'create') throw new UsageError(`unknown keys command "${action}" (keys create)`, 'keys');
  const command = 'keys create';
  const { user: userId, plan, stack, region } = values;
  if (userId === undefined) throw new UsageError('--user is required', command);
  if (plan === undefined) throw new UsageError('--plan is required', command);
  if (!USER_ID_PATTERN.test(userId)) {
    throw new UsageError(
      `--user "${userId}": use letters, digits and . _ @ + - (at most 128, starting with a letter or digit)`,
      command,
    );
  }
  if (!PLAN.test(plan))
    throw new UsageError(`--plan "${plan}": a plan name is lowercase letters, digits and dashes`, command);
  checkStackFlags(values, command);
  const aws =
    stack !== undefined || region !== undefined
      ? { stackName: stack ?? defaultStackName(), ...(region !== undefined ? { region } : {}) }
      : undefined;
  return { userId, plan, ...(aws ? { aws } : {}), json: values.json === true };
}

export const command = defineCommand({
  name: 'keys',
  options: KEYS_OPTIONS,
  help: HELP,
  async run(parsed, ctx) {
    const args = keysCreateArgs(parsed);
    let issued: IssuedKey;
    let where: string;
    if (args.aws) {
      const clients = createAwsKeyClients(args.aws.region);
      where = `stack ${args.aws.stackName}`;
      try {
        issued = await issueAwsApiKey(clients, { ...args, stackName: args.aws.stackName }, new Date(), (message) =>
          ctx.stderr.write(`${message}\n`),
        );
      } finally {
        for (const client of [clients.cloudFormation, clients.apiGateway, clients.dynamo]) client.destroy();
      }
    } else {
      const local = readLocalState(ctx.env);
      if (!local) {
        throw new UnreachableError(
          'no local cloud is running (start one with npm start); for a deployed stack pass --stack or --region',
        );
      }
      where = `the local cloud at ${local.url}`;
      issued = await issueLocalApiKey(local, args, ctx.fetch);
    }
    ctx.stderr.write(
      `Created API key ${issued.apiKeyId} for user ${issued.userId} on plan ${issued.plan} (${where}).\n` +
        'Hand it to the user over a secure channel: it is printed only once.\n',
    );
    ctx.stdout.write(args.json ? `${JSON.stringify({ ...issued, where })}\n` : `${issued.key}\n`);
    return EXIT.ok;
  },
});
