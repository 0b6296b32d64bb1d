/**
 * The IAM resources a function needs to call the configured Bedrock models, and nothing more.
 *
 * Pure string logic (no aws-cdk-lib), so it is unit-tested with literal values; the stack passes CloudFormation
 * tokens (partition, account) where it does not know the values at synth time.
 *
 * Three kinds of model reference appear in the configuration:
 * - a foundation model id (`anthropic.claude-3-5-haiku-20241022-v1:0`): one regional foundation-model ARN;
 * - a cross-Region (system-defined) inference profile id (`us.anthropic.claude-…`, `eu.…`, `apac.…`, `global.…`):
 *   the profile ARN in the calling Region, plus the underlying foundation model in every Region the profile may route
 *   to. Bedrock authorises the routed request against the foundation model in the destination Region, so the
 *   caller needs both (AWS, "Prerequisites for inference profiles",
 *   https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html). The destination Regions are
 *   chosen by AWS, change as AWS adds Regions to a profile, and for `global.` profiles span every commercial Region,
 *   so the Region segment is `*`. IAM's `*` also matches the empty Region of `arn:…:bedrock:::foundation-model/…`,
 *   which global profiles are authorised against. The model id stays exact, so only that one model is allowed.
 * - a full ARN: used as given (an application inference profile or a provisioned model); a system-defined
 *   inference-profile ARN also gets its foundation models, as for the profile id.
 */

/** Geographic prefixes of system-defined cross-Region inference profile ids. */
export const INFERENCE_PROFILE_PREFIXES: readonly string[] = ['us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca', 'global'];

export const BEDROCK_INVOKE_ACTIONS: readonly string[] = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

export interface BedrockArnContext {
  /** AWS partition (`aws`, `aws-us-gov`, …) or a token that resolves to it. */
  readonly partition: string;
  /** Region the functions call Bedrock in (the inference profile's source Region). */
  readonly region: string;
  /** Account that owns the inference profile ARN (system-defined profiles are addressed in the caller's account). */
  readonly account: string;
}

export type ModelReference =
  | { readonly kind: 'arn'; readonly arn: string }
  | { readonly kind: 'inference-profile'; readonly id: string; readonly prefix: string; readonly modelId: string }
  | { readonly kind: 'foundation-model'; readonly id: string };

/** Classifies a configured model reference (models.primary or one of models.fallbacks). */
export function classifyModel(id: string): ModelReference {
  if (id.startsWith('arn:')) return { kind: 'arn', arn: id };
  const dot = id.indexOf('.');
  const prefix = dot > 0 ? id.slice(0, dot) : '';
  if (INFERENCE_PROFILE_PREFIXES.includes(prefix) && id.length > dot + 1) {
    return { kind: 'inference-profile', id, prefix, modelId: id.slice(dot + 1) };
  }
  return { kind: 'foundation-model', id };
}

export function foundationModelArn(ctx: Pick<BedrockArnContext, 'partition'>, region: string, modelId: string): string {
  return `arn:${ctx.partition}:bedrock:${region}::foundation-model/${modelId}`;
}

export function inferenceProfileArn(ctx: BedrockArnContext, profileId: string): string {
  return `arn:${ctx.partition}:bedrock:${ctx.region}:${ctx.account}:inference-profile/${profileId}`;
}

/** The foundation model behind a system-defined inference profile, in any Region the profile routes to. */
export function routedFoundationModelArn(ctx: Pick<BedrockArnContext, 'partition'>, modelId: string): string {
  return foundationModelArn(ctx, '*', modelId);
}

/** The IAM resources for one model reference, in a stable order. */
export function modelResourceArns(ctx: BedrockArnContext, id: string): string[] {
  const ref = classifyModel(id);
  switch (ref.kind) {
    case 'foundation-model':
      return [foundationModelArn(ctx, ctx.region, ref.id)];
    case 'inference-profile':
      return [inferenceProfileArn(ctx, ref.id), routedFoundationModelArn(ctx, ref.modelId)];
    case 'arn': {
      const profile = /:inference-profile\/(.+)$/.exec(ref.arn)?.[1];
      const inner = profile ? classifyModel(profile) : undefined;
      if (inner?.kind === 'inference-profile') {
        const partition = ref.arn.split(':')[1];
        return [ref.arn, routedFoundationModelArn({ partition }, inner.modelId)];
      }
      return [ref.arn];
    }
  }
}

/** The IAM resources for a whole model chain (primary, then fallbacks), without duplicates. */
export function modelChainResourceArns(ctx: BedrockArnContext, models: readonly string[]): string[] {
  return [...new Set(models.flatMap((id) => modelResourceArns(ctx, id)))];
}
