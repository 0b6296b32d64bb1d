/**
 * Builds the CDK app from its context: reads and validates the `genai` configuration, creates the stack, and turns
 * on the cdk-nag AWS Solutions checks. `bin/app.ts` calls this; the infra tests call it with their own context.
 */
import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type AppConfig, ConfigError, parseConfig } from '../config/schema';
import { GenAiApiStack } from './genai-api-stack';

/** Context key holding the configuration (`cdk.json` → `context.genai`, or `cdk synth -c genai='{…}'`). */
export const CONFIG_CONTEXT_KEY = 'genai';

/** Reads the configuration from the app context, as an object or a JSON string. Fails naming every bad field. */
export function configFromContext(app: App): AppConfig {
  const source = `context "${CONFIG_CONTEXT_KEY}"`;
  let raw: unknown = app.node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (err) {
      const message = `${source}: not valid JSON (${(err as Error).message})`;
      throw new ConfigError(`Invalid ${source}:\n  ${message}`, [message]);
    }
  }
  return parseConfig(raw ?? {}, source);
}

export interface BuildAppOptions {
  /**
   * Register the cdk-nag AWS Solutions checks, so synth fails on any unacknowledged finding.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Account and Region to deploy to.
   * @default - the CLI's current account and Region (`CDK_DEFAULT_ACCOUNT`, `CDK_DEFAULT_REGION`)
   */
  readonly env?: Environment;
}

export function buildApp(app: App, options: BuildAppOptions = {}): GenAiApiStack {
  const config = configFromContext(app);
  const stack = new GenAiApiStack(app, config.stackName, {
    config,
    stackName: config.stackName,
    env: options.env ?? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
