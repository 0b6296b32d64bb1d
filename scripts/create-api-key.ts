/**
 * Issues an API key for a user on a plan of the deployed stack, and records who owns it.
 *
 *   npx tsx scripts/create-api-key.ts --user <userId> --plan <plan> [--stack <name>] [--region <region>]
 *
 * Reads the stack outputs (usage plan id of the plan, users table name), creates an enabled API key tagged with the
 * user and plan, adds it to the plan's usage plan, and writes `{keyHash, apiKeyId, userId, plan, createdAt}` to the
 * users table with a conditional put: the table holds the key's SHA-256 only, which is what the API's authorizer looks
 * a key up by. The key value is printed once, alone on stdout (`KEY=$(npx tsx scripts/create-api-key.ts …)`);
 * everything else goes to stderr. If a step after CreateApiKey fails, the new key is deleted again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
} from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../config/schema';
import { registerApiKey } from '../lambda/aws/users-table';
import { OUTPUT_USAGE_PLAN_ID_PREFIX, OUTPUT_USERS_TABLE_NAME, usagePlanOutputKey } from '../lib/outputs';

export const USAGE = `Usage: npx tsx scripts/create-api-key.ts --user <userId> --plan <plan> [--stack <name>] [--region <region>]

  --user    the user the key belongs to (letters, digits, . _ @ + -; at most 128)
  --plan    a plan of the deployed stack (config.plans), e.g. free or pro
  --stack   CloudFormation stack name (default: stackName from cdk.json context "genai", else GenAiApi)
  --region  AWS Region of the stack (default: the AWS SDK's, e.g. AWS_REGION or the profile)`;

/** A mistake in the command line; the message says which argument and how to fix it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CreateApiKeyArgs {
  readonly userId: string;
  readonly plan: string;
  readonly stackName: string;
  readonly region?: string;
}

const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const PLAN = /^[a-z][a-z0-9-]{0,30}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const FLAGS: Readonly<Record<string, keyof CreateApiKeyArgs>> = {
  '--user': 'userId',
  '--plan': 'plan',
  '--stack': 'stackName',
  '--region': 'region',
};

/** Parses `--flag value` / `--flag=value` arguments. Returns `'help'` for `--help`/`-h`. */
export function parseArgs(argv: readonly string[], defaultStackName = 'GenAiApi'): CreateApiKeyArgs | 'help' {
  const values: Partial<Record<keyof CreateApiKeyArgs, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const field = FLAGS[flag];
    if (!field) throw new UsageError(`Unknown argument "${arg}"`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    if (values[field] !== undefined) throw new UsageError(`${flag} given twice`);
    values[field] = value;
  }

  const userId = required(values.userId, '--user');
  const plan = required(values.plan, '--plan');
  const stackName = values.stackName ?? defaultStackName;
  if (!USER_ID.test(userId)) {
    throw new UsageError(
      `--user "${userId}": use letters, digits and . _ @ + - (at most 128, starting with a letter or digit)`,
    );
  }
  if (!PLAN.test(plan)) throw new UsageError(`--plan "${plan}": a plan name is lowercase letters, digits and dashes`);
  if (!STACK_NAME.test(stackName)) throw new UsageError(`--stack "${stackName}": not a CloudFormation stack name`);
  if (values.region !== undefined && !REGION.test(values.region)) {
    throw new UsageError(`--region "${values.region}": not an AWS Region (e.g. us-east-1)`);
  }
  return { userId, plan, stackName, ...(values.region !== undefined ? { region: values.region } : {}) };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** The stack name configured in `cdk.json` (context `genai`), or undefined when there is none. */
export function configuredStackName(cdkJsonPath = path.join(__dirname, '..', 'cdk.json')): string | undefined {
  try {
    const cdkJson = JSON.parse(fs.readFileSync(cdkJsonPath, 'utf8')) as { context?: { genai?: unknown } };
    const raw = cdkJson.context?.genai;
    return parseConfig(typeof raw === 'string' ? JSON.parse(raw) : (raw ?? {})).stackName;
  } catch {
    return undefined;
  }
}

export interface StackTargets {
  readonly usagePlanId: string;
  readonly usersTableName: string;
}

/** Picks the plan's usage plan id and the users table name out of the stack outputs. */
export function targetsFromOutputs(
  outputs: readonly { OutputKey?: string; OutputValue?: string }[],
  stackName: string,
  plan: string,
): StackTargets {
  const byKey = new Map(outputs.map((o) => [o.OutputKey, o.OutputValue]));
  const planKey = usagePlanOutputKey(plan);
  const usagePlanId = byKey.get(planKey);
  if (!usagePlanId) {
    const plans = [...byKey.keys()].filter((k) => k?.startsWith(OUTPUT_USAGE_PLAN_ID_PREFIX)).join(', ') || 'none';
    throw new UsageError(
      `Stack ${stackName} has no usage plan for plan "${plan}" (output ${planKey}; found: ${plans})`,
    );
  }
  const usersTableName = byKey.get(OUTPUT_USERS_TABLE_NAME);
  if (!usersTableName) throw new Error(`Stack ${stackName} has no ${OUTPUT_USERS_TABLE_NAME} output`);
  return { usagePlanId, usersTableName };
}

export interface Clients {
  readonly cloudFormation: CloudFormationClient;
  readonly apiGateway: APIGatewayClient;
  readonly dynamo: DynamoDBDocumentClient;
}

export function createClients(region?: string): Clients {
  return {
    cloudFormation: new CloudFormationClient({ region }),
    apiGateway: new APIGatewayClient({ region }),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ region })),
  };
}

export async function readStackTargets(clients: Clients, stackName: string, plan: string): Promise<StackTargets> {
  const { Stacks } = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = Stacks?.[0];
  if (!stack) throw new Error(`Stack ${stackName} not found`);
  return targetsFromOutputs(stack.Outputs ?? [], stackName, plan);
}

export interface IssuedKey {
  readonly apiKeyId: string;
  readonly value: string;
  readonly userId: string;
  readonly plan: string;
  readonly createdAt: string;
}

/** Creates the key, binds it to the plan, records its owner; deletes the key again if a later step fails. */
export async function issueApiKey(clients: Clients, args: CreateApiKeyArgs, now = new Date()): Promise<IssuedKey> {
  const targets = await readStackTargets(clients, args.stackName, args.plan);
  const createdAt = now.toISOString();
  const key = await clients.apiGateway.send(
    new CreateApiKeyCommand({
      name: `${args.userId}-${args.plan}-${createdAt.slice(0, 10)}`,
      description: `API key of ${args.userId} on plan ${args.plan}`,
      enabled: true,
      tags: { userId: args.userId, plan: args.plan },
    }),
  );
  if (!key.id || !key.value) throw new Error('CreateApiKey returned no id or value');
  try {
    await clients.apiGateway.send(
      new CreateUsagePlanKeyCommand({ usagePlanId: targets.usagePlanId, keyId: key.id, keyType: 'API_KEY' }),
    );
    await registerApiKey(
      { key: key.value, apiKeyId: key.id, userId: args.userId, plan: args.plan },
      { documentClient: clients.dynamo, tableName: targets.usersTableName, now },
    );
  } catch (err) {
    await clients.apiGateway.send(new DeleteApiKeyCommand({ apiKey: key.id })).catch((cleanup: unknown) => {
      console.error(
        `Could not delete API key ${key.id} after the failure below; delete it by hand. (${String(cleanup)})`,
      );
    });
    throw err;
  }
  return { apiKeyId: key.id, value: key.value, userId: args.userId, plan: args.plan, createdAt };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let args: CreateApiKeyArgs | 'help';
  try {
    args = parseArgs(argv, configuredStackName());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    console.error(USAGE);
    return 0;
  }
  try {
    const issued = await issueApiKey(createClients(args.region), args);
    console.error(
      `Created API key ${issued.apiKeyId} for user ${issued.userId} on plan ${issued.plan} (stack ${args.stackName}).\n` +
        'The key value follows on stdout. Hand it to the user over a secure channel; this script prints it only once.',
    );
    console.log(issued.value);
    return 0;
  } catch (err) {
    console.error(err instanceof UsageError ? err.message : `Failed: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
