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

export const BEDROCK_INVOKE_ACTIONS: readonly string[] = [
  'bedrock:InvokeModel',
  'bedrock:InvokeModelWithResponseStream',
];

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

/**
 * The Regions that may call a system-defined inference profile of each geography (its source Regions).
 *
 * AWS, "Supported Regions and models for inference profiles"
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html) and "Geographic cross-Region
 * inference" (https://docs.aws.amazon.com/bedrock/latest/userguide/geographic-cross-region-inference.html): a
 * geographic profile (`us.`, `eu.`, `apac.`, …) is served only to callers in a Region of its geography, and a
 * `global.` profile to callers in any commercial Region. Which Regions of a geography offer the profile of one
 * particular model differs per model (the model's page lists them), so this is the geography's set, not a per-model
 * list: it catches a profile used outside its geography, which always fails, and leaves model access in a Region to
 * the deployer. APAC includes Middle East (UAE) `me-central-1`; `jp.` and `au.` are the Japanese and Australian
 * Regions only.
 */
const PROFILE_SOURCE_REGIONS: Readonly<
  Record<string, { readonly label: string; readonly serves: (region: string) => boolean }>
> = {
  us: { label: 'US commercial Regions (us-*)', serves: (r) => /^us-(east|west)-\d+$/.test(r) },
  'us-gov': { label: 'AWS GovCloud (US) Regions (us-gov-*)', serves: (r) => /^us-gov-[a-z]+-\d+$/.test(r) },
  eu: { label: 'European Regions (eu-*)', serves: (r) => /^eu-(central|west|north|south)-\d+$/.test(r) },
  apac: {
    label: 'Asia Pacific Regions (ap-*, me-central-1)',
    serves: (r) => /^ap-[a-z]+-\d+$/.test(r) || r === 'me-central-1',
  },
  jp: {
    label: 'Japanese Regions (ap-northeast-1, ap-northeast-3)',
    serves: (r) => ['ap-northeast-1', 'ap-northeast-3'].includes(r),
  },
  au: {
    label: 'Australian Regions (ap-southeast-2, ap-southeast-4)',
    serves: (r) => ['ap-southeast-2', 'ap-southeast-4'].includes(r),
  },
  ca: { label: 'Canadian Regions (ca-*)', serves: (r) => /^ca-[a-z]+-\d+$/.test(r) },
  global: { label: 'commercial Regions', serves: isCommercialRegion },
};

/** Regions of the standard `aws` partition (not GovCloud, China, or the isolated partitions). */
function isCommercialRegion(region: string): boolean {
  return /^[a-z]{2}-[a-z]+-\d+$/.test(region) && !/^(us-gov|cn|us-iso[a-z]*|eu-iso[a-z]*)-/.test(region);
}

/** The geography prefix a Region's own profiles use, where one is known (`eu-west-1` → `eu`). */
export function geographicPrefixFor(region: string): string | undefined {
  for (const prefix of ['us', 'us-gov', 'eu', 'apac', 'ca']) {
    if (PROFILE_SOURCE_REGIONS[prefix].serves(region)) return prefix;
  }
  return undefined;
}

/** The system-defined inference profile a model reference names, if any (an id, or the id inside an ARN). */
function systemProfileOf(id: string): Extract<ModelReference, { kind: 'inference-profile' }> | undefined {
  const ref = classifyModel(id);
  if (ref.kind === 'inference-profile') return ref;
  if (ref.kind === 'arn') {
    const profile = /:inference-profile\/(.+)$/.exec(ref.arn)?.[1];
    const inner = profile ? classifyModel(profile) : undefined;
    if (inner?.kind === 'inference-profile') return inner;
  }
  return undefined;
}

/**
 * One message per configured model (`field` → model id, e.g. `models.primary`, `models.fallbacks.0`) whose
 * cross-Region inference profile cannot be called from `region`, naming the field first. Foundation-model ids and
 * application inference profiles are not checked: they are regional, and whether a Region offers them is model access.
 */
export function inferenceProfileRegionIssues(models: Readonly<Record<string, string>>, region: string): string[] {
  const issues: string[] = [];
  for (const [field, id] of Object.entries(models)) {
    const profile = systemProfileOf(id);
    if (!profile) continue;
    const source = PROFILE_SOURCE_REGIONS[profile.prefix];
    if (source.serves(region)) continue;
    const own = geographicPrefixFor(region);
    const suggestion = [
      own ? `"${own}.${profile.modelId}"` : undefined,
      isCommercialRegion(region) ? `"global.${profile.modelId}"` : undefined,
    ].filter(Boolean);
    issues.push(
      `${field}: "${id}" is a cross-Region inference profile that Bedrock serves only to callers in ${source.label}, ` +
        `but the functions call Bedrock in ${region}` +
        (suggestion.length ? `; use ${suggestion.join(' or ')} if the model offers it there, ` : '; ') +
        'or set bedrockRegion to a Region the profile serves',
    );
  }
  return issues;
}
