/**
 * Builds the CDK app from its context: reads and validates the `genai` configuration, creates the stack, and turns
 * on the cdk-nag AWS Solutions checks. `bin/app.ts` calls this; the infra tests call it with their own context.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, type App, type Environment, Token, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type AppConfig, ConfigError, parseConfig } from '../config/schema';
import { inferenceProfileRegionIssues } from './bedrock-arns';
import { GenAiApiStack } from './genai-api-stack';

/** Context key holding the configuration (`cdk.json` → `context.genai`, or `cdk synth -c genai='{…}'`). */
export const CONFIG_CONTEXT_KEY = 'genai';

export interface ConfigFromContextOptions {
  /**
   * The `cdk.json` whose `context.genai` a command-line value (`-c genai='{…}'`) is merged over.
   * @default - `cdk.json` in the working directory, the file the CDK CLI read
   */
  readonly cdkJsonPath?: string;
}

/**
 * Reads the configuration from the app context. Fails naming every bad field.
 *
 * The CDK CLI hands the app `cdk.json`'s context as objects but a `-c key=value` as a string, and a `-c genai=…`
 * replaces `cdk.json`'s whole `genai` object. So a string is taken as an override and merged over `cdk.json`'s
 * `context.genai` (see `mergeConfig`): `-c genai='{"models":{"primary":"…"}}'` changes that one field and keeps the rest.
 */
export function configFromContext(app: App, options: ConfigFromContextOptions = {}): AppConfig {
  const source = `context "${CONFIG_CONTEXT_KEY}"`;
  let raw: unknown = app.node.tryGetContext(CONFIG_CONTEXT_KEY);
  if (typeof raw === 'string') {
    let override: unknown;
    try {
      override = JSON.parse(raw);
    } catch (err) {
      const message = `${source}: not valid JSON (${(err as Error).message})`;
      throw new ConfigError(`Invalid ${source}:\n  ${message}`, [message]);
    }
    raw = mergeConfig(cdkJsonConfig(options.cdkJsonPath ?? path.resolve('cdk.json')), override);
  }
  return parseConfig(raw ?? {}, source);
}

/** `context.genai` of a cdk.json file; nothing when there is no such file. */
function cdkJsonConfig(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return (JSON.parse(text) as { context?: Record<string, unknown> }).context?.[CONFIG_CONTEXT_KEY];
  } catch (err) {
    const message = `${file}: not valid JSON (${(err as Error).message})`;
    throw new ConfigError(`Invalid ${file}:\n  ${message}`, [message]);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Deep-merges an override over a base configuration: objects merge key by key, anything else (arrays included, so a
 * list of subscribers is replaced whole) replaces, and `null` removes the key so its default applies.
 */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = mergeConfig(base[key], value);
  }
  return merged;
}

/**
 * Fails when a configured cross-Region inference profile cannot be called from the Region the functions call
 * Bedrock in (`bedrockRegion`, else the stack's Region). Returns false when that Region is unknown at synth time.
 */
export function checkModelRegions(config: AppConfig, region: string | undefined): boolean {
  if (region === undefined || Token.isUnresolved(region)) return false;
  const fields: Record<string, string> = { 'models.primary': config.models.primary };
  for (const [i, id] of config.models.fallbacks.entries()) fields[`models.fallbacks.${i}`] = id;
  const issues = inferenceProfileRegionIssues(fields, region);
  if (issues.length) {
    throw new ConfigError(`Invalid context "${CONFIG_CONTEXT_KEY}":\n  ${issues.join('\n  ')}`, issues);
  }
  return true;
}

export interface BuildAppOptions extends ConfigFromContextOptions {
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
  const config = configFromContext(app, options);
  const env = options.env ?? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const checked = checkModelRegions(config, config.bedrockRegion ?? env.region);
  const stack = new GenAiApiStack(app, config.stackName, { config, stackName: config.stackName, env });
  if (!checked) {
    // Region-agnostic stack (no CDK_DEFAULT_REGION, no bedrockRegion): the Region is only known at deploy time.
    Annotations.of(stack).addWarningV2(
      'genai:models-region-unchecked',
      'models: the Region is unknown at synth, so the inference profiles in models.primary and models.fallbacks ' +
        'were not checked against it; set bedrockRegion, or synthesise with a Region (AWS_REGION or a profile)',
    );
  }
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
