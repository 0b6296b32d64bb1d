/** Builds the CDK app the way `cdk synth` does (cdk.json context, cdk-nag optional), minus asset bundling. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../lib/app';
import type { GenAiApiStack } from '../../lib/genai-api-stack';

const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

export interface Synthesised {
  readonly app: App;
  readonly stack: GenAiApiStack;
  readonly template: Template;
}

/** Creates the app with cdk.json's context (feature flags included); `genai` replaces the configuration. */
export function createApp(genai?: unknown): App {
  const context: Record<string, unknown> = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
  if (genai !== undefined) context.genai = genai;
  return new App({ context });
}

export function synth(genai?: unknown, env?: Environment): Synthesised {
  const app = createApp(genai);
  const stack = buildApp(app, { nag: false, env: env ?? {} });
  if (!env?.region) {
    Validations.of(stack).acknowledge({
      id: 'Annotation::genai:models-region-unchecked',
      reason: 'Region-agnostic on purpose: the assertions read Region-dependent values as tokens',
    });
  }
  return { app, stack, template: Template.fromStack(stack) };
}

/** Resources of one type, as `[logicalId, properties]` pairs. */
export function resourcesOfType(template: Template, type: string): [string, Record<string, any>][] {
  return Object.entries(template.findResources(type)).map(([id, r]) => [
    id,
    (r as { Properties: Record<string, any> }).Properties,
  ]);
}
