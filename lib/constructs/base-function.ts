/**
 * The one place for Lambda defaults: every function of the API is a `BaseFunction`.
 *
 * Runtime Node.js 24 on ARM64, X-Ray active tracing, its own log group with the configured retention, a lean bundle
 * (see {@link functionBundling}) with the AWS SDK bundled (so the deployed SDK is the version the project pins and tests
 * against, HTTP/2 behaviour included), and the validated configuration in `GENAI_CONFIG`. The `useXxx` helpers set an environment variable and
 * grant the matching permissions in one call, so the two cannot drift apart.
 */
import * as path from 'node:path';
import { type CfnResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HANDLER_EXPORT, handlerEntry } from '../../config/functions';
import type { FunctionName } from '../../config/routes';
import { ENV, runtimeConfigJson } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { BEDROCK_INVOKE_ACTIONS, modelChainResourceArns } from '../bedrock-arns';
import { acknowledgeWildcardResources } from '../nag';

/** Names of the environment variables the functions read (see `ENV` in config/runtime.ts). */
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** The lock file of the project the functions are bundled from. */
const PACKAGE_LOCK_FILE = path.join(__dirname, '..', '..', 'package-lock.json');

/**
 * The module the bundles use for the SDK's credential and token providers, relative to the project root (esbuild's
 * working directory, locally and in the bundling container alike). See lambda/aws/lambda-credentials.ts.
 */
export const LAMBDA_CREDENTIALS_MODULE = './lambda/aws/lambda-credentials.ts';

/**
 * How every function is bundled, chosen for the cold start (README "Cold starts", `npm run bench -- cold-start`):
 *
 * - Packages resolved to their ES module builds first (`mainFields`), so esbuild drops every export a function does not
 *   use, the SDK's included (tree-shaking works on ES module input whatever the output format).
 * - CommonJS output (`index.js`): an ES module output would `import` Node's built-in modules, and Node builds an ES
 *   module facade for each by reading every export, which loads what `require` leaves lazy (`node:http` alone then
 *   loads its bundled fetch implementation): measurably slower to load for the same code.
 * - Minified, with the AWS SDK bundled.
 * - The SDK's credential and token providers replaced by {@link LAMBDA_CREDENTIALS_MODULE}: Lambda puts the role's
 *   credentials in the environment, so the rest of the default chain (and its nested STS/SSO clients) is dead weight.
 * - No source map unless `observability.sourceMaps` is on: Node parses the map when it loads the bundle (tens of ms
 *   per cold start) only to make stack traces readable. When on, the map (without sources) ships beside the bundle and
 *   {@link functionNodeOptions} turns it on.
 */
export function functionBundling(config: Pick<AppConfig, 'observability'>): BundlingOptions {
  const sourceMap = config.observability.sourceMaps;
  return {
    format: OutputFormat.CJS,
    mainFields: ['module', 'main'],
    minify: true,
    sourceMap,
    ...(sourceMap ? { sourcesContent: false } : {}),
    bundleAwsSDK: true,
    esbuildArgs: {
      '--alias': [
        `@aws-sdk/credential-provider-node=${LAMBDA_CREDENTIALS_MODULE}`,
        `@aws-sdk/token-providers=${LAMBDA_CREDENTIALS_MODULE}`,
      ],
    },
  };
}

/** `NODE_OPTIONS` of every function: source-mapped stack traces when the bundles carry maps, else none. */
export function functionNodeOptions(config: Pick<AppConfig, 'observability'>): string | undefined {
  return config.observability.sourceMaps ? '--enable-source-maps' : undefined;
}

export interface BaseFunctionProps {
  /** Which function: its code is `lambda/functions/<functionName>/handler.ts`. */
  readonly functionName: FunctionName;
  /** The validated configuration; its runtime part is passed to the function in `GENAI_CONFIG`. */
  readonly config: AppConfig;
  /**
   * Longest an invocation may run.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory (and, proportionally, CPU).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Human-readable description shown in the Lambda console.
   * @default - `<serviceName> <functionName>`
   */
  readonly description?: string;
  /**
   * Most concurrent executions reserved for (and allowed to) this function.
   * @default - `functions.<functionName>.reservedConcurrency` of the configuration; unset there: unreserved, the
   * account's regional pool
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Access levels for `useTable`: read items; read and write them; or exactly the item actions a function needs: only
 * creating items (`putItem`), only changing existing ones (`updateItem`), or reading and replacing items by key
 * (`getPutItem`: the response cache).
 */
export type TableAccess = 'read' | 'readWrite' | 'putItem' | 'updateItem' | 'getPutItem';

/** The DynamoDB actions of each item-level {@link TableAccess}. */
const ITEM_TABLE_ACTIONS: Readonly<Record<'putItem' | 'updateItem' | 'getPutItem', readonly string[]>> = {
  putItem: ['dynamodb:PutItem'],
  updateItem: ['dynamodb:UpdateItem'],
  getPutItem: ['dynamodb:GetItem', 'dynamodb:PutItem'],
};
/**
 * Access levels for `useQueue`: send messages; receive and delete them; or only change the visibility of messages
 * an event source mapping delivered (to delay a redelivery).
 */
export type QueueAccess = 'send' | 'consume' | 'changeVisibility';

export class BaseFunction extends Construct {
  /** Which function this is: its code is `lambda/functions/<functionName>/handler.ts`. */
  public readonly functionName: FunctionName;
  /** The Lambda function. */
  public readonly function: NodejsFunction;
  /** Its execution role: writes to its own log group, traces to X-Ray, and whatever the `useXxx` helpers grant. */
  public readonly role: iam.Role;
  /** Its log group (explicit, so retention is set and the function needs no CreateLogGroup permission). */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: BaseFunctionProps) {
    super(scope, id);
    const { config, functionName } = props;
    this.functionName = functionName;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: retentionDays(config.observability.logRetentionDays),
    });
    // Own role instead of the default one: the default attaches the AWS managed AWSLambdaBasicExecutionRole
    // (logs:CreateLogGroup and writes on every log group in the account); this one writes to its own log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${functionName} function`,
    });
    this.logGroup.grantWrite(this.role);

    const nodeOptions = functionNodeOptions(config);
    this.function = new NodejsFunction(this, 'Function', {
      entry: handlerEntry(functionName),
      // This project's lock file, wherever the app is run from (the default searches up from the working directory).
      depsLockFilePath: PACKAGE_LOCK_FILE,
      handler: HANDLER_EXPORT,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      tracing: Tracing.ACTIVE,
      timeout: props.timeout ?? Duration.seconds(30),
      memorySize: props.memorySize ?? 512,
      description: props.description ?? `${config.observability.serviceName} ${functionName}`,
      reservedConcurrentExecutions:
        props.reservedConcurrentExecutions ?? config.functions[functionName]?.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        [ENV.config]: runtimeConfigJson(config),
        POWERTOOLS_SERVICE_NAME: config.observability.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: config.observability.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: config.observability.logLevel,
        ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
      },
      bundling: functionBundling(config),
    });

    // cfn-lint W3005 (DependsOn on a resource a GetAtt already implies): Function makes the function depend on its
    // whole role construct, so that the role's default policy (which the function needs from its first invocation)
    // exists first; the role itself comes along in DependsOn, redundant with GetAtt Role.Arn and harmless.
    (this.function.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });

    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray active tracing only: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions, so AWS documents Resource "*" for them. No other statement of this role uses "*".',
    });
  }

  /** Passes a table's name in `envName` and grants `access` to its items (and indexes). */
  public useTable(envName: EnvName, table: ITable, access: TableAccess): this {
    this.function.addEnvironment(envName, table.tableName);
    if (access === 'read') table.grantReadData(this.role);
    else if (access === 'readWrite') table.grantReadWriteData(this.role);
    else {
      table.grant(this.role, ...ITEM_TABLE_ACTIONS[access]);
      // `grant` covers the table only; under a customer managed key the item must be encrypted (and, for an update
      // that returns the item, decrypted) too. The AWS managed key needs no grant.
      table.encryptionKey?.grantEncryptDecrypt(this.role);
    }
    return this;
  }

  /** Passes a queue's URL in `envName` and grants exactly `access` on it. */
  public useQueue(envName: EnvName, queue: IQueue, access: QueueAccess): this {
    this.function.addEnvironment(envName, queue.queueUrl);
    if (access === 'send') queue.grantSendMessages(this.role);
    else if (access === 'consume') queue.grantConsumeMessages(this.role);
    else queue.grant(this.role, 'sqs:ChangeMessageVisibility');
    return this;
  }

  /** Passes an event bus's name in `envName` and grants PutEvents on it. */
  public useEventBus(envName: EnvName, bus: IEventBus): this {
    this.function.addEnvironment(envName, bus.eventBusName);
    bus.grantPutEventsTo(this.role);
    return this;
  }

  /** Passes a secret's ARN in `envName` (never its value) and grants reading it. */
  public useSecret(envName: EnvName, secret: ISecret): this {
    this.function.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this.role);
    return this;
  }

  /**
   * Allows invoking exactly the given models (ids, inference profile ids or ARNs) with Converse / ConverseStream,
   * and passes the Region to call Bedrock in as `BEDROCK_REGION`.
   *
   * @param models the model chain, primary first
   * @param region Bedrock Region; unset: the stack's Region
   */
  public useBedrockModels(models: readonly string[], region?: string): this {
    const stack = Stack.of(this);
    const bedrockRegion = region ?? stack.region;
    this.function.addEnvironment(ENV.bedrockRegion, bedrockRegion);
    const resources = modelChainResourceArns(
      { partition: stack.partition, region: bedrockRegion, account: stack.account },
      models,
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'InvokeConfiguredModels', actions: [...BEDROCK_INVOKE_ACTIONS], resources }),
    );
    acknowledgeWildcardResources(
      this.role,
      resources.filter((arn) => arn.includes('*')),
      'Cross-Region inference profile: Bedrock runs the request against the same foundation model in a destination ' +
        'Region that AWS chooses (and may extend), so the Region segment is "*"; the model id is exact, so no other ' +
        'model is allowed.',
    );
    return this;
  }
}

/** The CloudWatch Logs retention for a number of days; only the periods CloudWatch Logs offers are accepted. */
export function retentionDays(days: number): RetentionDays {
  const offered = (Object.values(RetentionDays).filter((v) => typeof v === 'number') as number[])
    .filter((v) => v > 0 && v !== RetentionDays.INFINITE)
    .sort((a, b) => a - b);
  if (!offered.includes(days)) {
    throw new Error(
      `observability.logRetentionDays: ${days} is not a retention period CloudWatch Logs offers (one of ${offered.join(', ')})`,
    );
  }
  return days as RetentionDays;
}
