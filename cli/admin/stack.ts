/**
 * The deployed stack the admin commands act on: its name (`--stack`, else `stackName` in `cdk.json`), the
 * configuration it was deployed from (`cdk.json` context `genai`) and its outputs (lib/outputs.ts names them).
 */
import { join } from 'node:path';
import {
  type CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import { type AppConfig, parseConfig } from '../../config/schema';
import { readCdkContext } from '../../local/config';
import type { OptionSpecs } from '../args';
import { CommandError, UsageError } from '../errors';

/** The options that name a deployed stack (`keys create`, `breaker`). */
export const STACK_OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
} as const satisfies OptionSpecs;

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** Checks `--stack` and `--region`, naming the flag that is wrong. */
export function checkStackFlags(flags: { readonly stack?: string; readonly region?: string }, command: string): void {
  if (flags.stack !== undefined && !STACK_NAME.test(flags.stack)) {
    throw new UsageError(`--stack "${flags.stack}": not a CloudFormation stack name`, command);
  }
  if (flags.region !== undefined && !REGION.test(flags.region)) {
    throw new UsageError(`--region "${flags.region}": not an AWS Region (e.g. us-east-1)`, command);
  }
}

/** Where `cdk.json` is: the project root. */
export const PROJECT_ROOT = join(__dirname, '..', '..');

/** The configuration of `cdk.json` (what `cdk deploy` deploys). Throws ConfigError naming a bad field. */
export function deployedConfig(root: string = PROJECT_ROOT): AppConfig {
  return parseConfig(readCdkContext(root), 'cdk.json context "genai"');
}

/** The stack name configured in `cdk.json`, or undefined when there is none or it does not parse. */
export function configuredStackName(root: string = PROJECT_ROOT): string | undefined {
  try {
    return deployedConfig(root).stackName;
  } catch {
    return undefined;
  }
}

export type StackOutputs = ReadonlyMap<string, string>;

/** The stack's outputs by key. Throws a STACK_NOT_FOUND {@link CommandError} when there is no such stack. */
export async function readStackOutputs(cloudFormation: CloudFormationClient, stackName: string): Promise<StackOutputs> {
  let stacks: DescribeStacksCommandOutput['Stacks'];
  try {
    ({ Stacks: stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })));
  } catch (err) {
    // DescribeStacks answers a missing stack with a ValidationError "Stack with id … does not exist".
    if ((err as Error).name === 'ValidationError' && /does not exist/.test((err as Error).message)) {
      throw new CommandError('STACK_NOT_FOUND', `Stack ${stackName} not found`);
    }
    throw err;
  }
  const stack = stacks?.[0];
  if (!stack) throw new CommandError('STACK_NOT_FOUND', `Stack ${stackName} not found`);
  return new Map(
    (stack.Outputs ?? []).flatMap((o) => (o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue]] : [])),
  );
}

/** An output the stack must have. */
export function requiredOutput(outputs: StackOutputs, key: string, stackName: string): string {
  const value = outputs.get(key);
  if (!value) throw new CommandError('STACK_OUTPUT_MISSING', `Stack ${stackName} has no ${key} output`);
  return value;
}
