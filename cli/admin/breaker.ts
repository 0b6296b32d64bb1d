/**
 * The shared circuit breakers, read and forced through the same store and state machine the functions use
 * (lambda/aws/breaker-store.ts, lambda/core/breaker), on whichever guard table the operator points at:
 *
 * 1. `--table <name>` (or `GUARD_TABLE_NAME`): that table, with the AWS SDK's usual region and credentials;
 * 2. `--stack` / `--region`: the deployed stack's `GuardTableName` output;
 * 3. otherwise the running local cloud (`npm start`), found through its state file (local/state-file.ts).
 *
 * The breaker settings and the model list come from where the breakers run: the local cloud's configuration, else
 * `GENAI_CONFIG` when set, else `cdk.json` (what was deployed).
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CONFIG_ENV, ENV, readRuntimeConfig } from '../../config/runtime';
import { type AppConfig, configuredModels } from '../../config/schema';
import { DynamoBreakerStore } from '../../lambda/aws/breaker-store';
import { type BreakerStatus, CircuitBreaker } from '../../lambda/core/breaker';
import { OUTPUT_GUARD_TABLE_NAME } from '../../lib/outputs';
import { readLocalState } from '../../local/state-file';
import { UnreachableError, UsageError } from '../errors';
import { configuredStackName, deployedConfig, readStackOutputs, requiredOutput } from './stack';

export type BreakerAction = 'status' | 'open' | 'close';

export interface BreakerTargetOptions {
  readonly table?: string;
  readonly stack?: string;
  readonly region?: string;
}

export interface BreakerOptions extends BreakerTargetOptions {
  readonly model?: string;
  /** `open` only: how long; unset holds it open until `close`. */
  readonly seconds?: number;
}

/** A guard table and what it takes to use it. */
export interface BreakerTarget {
  /** For the operator: which breakers these are. */
  readonly description: string;
  readonly tableName: string;
  readonly documentClient: DynamoDBDocumentClient;
  readonly config: AppConfig;
}

/** A DynamoDB client for the local cloud's stand-in, with the region and dummy credentials its functions use. */
function localDocumentClient(localEnv: Readonly<Record<string, string>>): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: localEnv.AWS_ENDPOINT_URL_DYNAMODB,
      region: localEnv.AWS_REGION,
      credentials: { accessKeyId: localEnv.AWS_ACCESS_KEY_ID, secretAccessKey: localEnv.AWS_SECRET_ACCESS_KEY },
      maxAttempts: 1,
    }),
  );
}

/** The configuration of the deployed breakers: `GENAI_CONFIG` as the functions get it, else `cdk.json`. */
function awsConfig(env: NodeJS.ProcessEnv): AppConfig {
  return env[CONFIG_ENV] ? readRuntimeConfig(env) : deployedConfig();
}

/** Finds the guard table (see the module comment for the order). */
export async function resolveBreakerTarget(
  options: BreakerTargetOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BreakerTarget> {
  const aws = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: options.region }));
  const table = options.table ?? env[ENV.guardTable];
  if (table) {
    return { description: `table ${table}`, tableName: table, documentClient: aws(), config: awsConfig(env) };
  }
  if (options.stack !== undefined || options.region !== undefined) {
    const stackName = options.stack ?? configuredStackName() ?? 'GenAiApi';
    const cloudFormation = new CloudFormationClient({ region: options.region });
    try {
      const outputs = await readStackOutputs(cloudFormation, stackName);
      const tableName = requiredOutput(outputs, OUTPUT_GUARD_TABLE_NAME, stackName);
      return { description: `stack ${stackName}`, tableName, documentClient: aws(), config: awsConfig(env) };
    } finally {
      cloudFormation.destroy();
    }
  }
  const local = readLocalState(env);
  if (!local) {
    throw new UnreachableError(
      'no local cloud is running (start one with npm start); for a deployed stack pass --stack or --region, ' +
        `or name the guard table with --table or ${ENV.guardTable}`,
    );
  }
  return {
    description: `the local cloud at ${local.url}`,
    tableName: local.env[ENV.guardTable]!,
    documentClient: localDocumentClient(local.env),
    config: readRuntimeConfig(local.env),
  };
}

/** Runs one action; `status` answers every configured model unless `model` names one. */
export async function runBreakerAction(
  target: BreakerTarget,
  action: BreakerAction,
  options: Pick<BreakerOptions, 'model' | 'seconds'> = {},
): Promise<BreakerStatus[]> {
  const models = configuredModels(target.config);
  if (options.model !== undefined && !models.includes(options.model)) {
    throw new UsageError(`--model "${options.model}": not a configured model (${models.join(', ')})`, 'breaker');
  }
  const store = new DynamoBreakerStore({ tableName: target.tableName, documentClient: target.documentClient });
  const breaker = new CircuitBreaker({ store, settings: target.config.breaker });
  if (action === 'status') return Promise.all((options.model ? [options.model] : models).map((m) => breaker.status(m)));
  if (!options.model) throw new UsageError(`breaker ${action} needs --model`, 'breaker');
  return [
    action === 'open'
      ? await breaker.forceOpen(options.model, options.seconds)
      : await breaker.forceClose(options.model),
  ];
}

/** {@link resolveBreakerTarget} then {@link runBreakerAction}, closing the client afterwards. */
export async function breakerAdmin(
  action: BreakerAction,
  options: BreakerOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ target: string; breakers: BreakerStatus[] }> {
  const target = await resolveBreakerTarget(options, env);
  try {
    return { target: target.description, breakers: await runBreakerAction(target, action, options) };
  } finally {
    target.documentClient.destroy();
  }
}
