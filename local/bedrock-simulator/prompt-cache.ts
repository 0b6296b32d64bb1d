/**
 * Bedrock prompt caching as the simulator plays it: which models accept `cachePoint` blocks (others refuse them with a
 * `ValidationException`, as Bedrock does), and a cache per model of the prompt prefixes written, each kept for 5 minutes
 * from its last use (Bedrock's default cache TTL). A call reads the longest prefix of its checkpoints that is cached
 * (`cacheReadInputTokens`) and writes the checkpoints after it (`cacheWriteInputTokens`); the rest of its input counts
 * as `inputTokens`, as Bedrock reports them.
 *
 * Facts from the Amazon Bedrock User Guide, "Prompt caching for faster model inference" (as of March 2026): Claude
 * Sonnet 4, Claude Opus 4 and Claude 3.7 Sonnet take at least 1,024 tokens per checkpoint, Claude 3.5 Haiku 2,048,
 * Amazon Nova Micro, Lite, Pro and Premier 1,000; at most 4 checkpoints per request. A checkpoint with fewer tokens than
 * that since the previous one is accepted and not cached.
 */

/** One `cachePoint` of a request: the characters of the prompt before it and a digest of that prefix. */
export interface Checkpoint {
  readonly chars: number;
  readonly key: string;
}

/** Bedrock's cache time to live, refreshed by each read. */
export const CACHE_TTL_MS = 5 * 60_000;

/** Bedrock's limit of checkpoints in one request. */
export const MAX_CHECKPOINTS = 4;

/** Minimum tokens per checkpoint, by model id without its geography prefix (`us.`, `eu.`, …). */
const MINIMUMS: readonly [RegExp, number][] = [
  [/^anthropic\.claude-3-5-haiku-/, 2048],
  [/^anthropic\.claude-(sonnet-4|opus-4|3-7-sonnet)/, 1024],
  [/^amazon\.nova-(micro|lite|pro|premier)-/, 1000],
];

const GEOGRAPHY = /^(us|eu|apac|jp|au|ca|global|us-gov)\./;

/** The model's minimum tokens per checkpoint; undefined when it has no prompt caching. */
export function minTokensPerCheckpoint(modelId: string): number | undefined {
  const base = (modelId.split('/').pop() ?? modelId).replace(GEOGRAPHY, '');
  return MINIMUMS.find(([pattern]) => pattern.test(base))?.[1];
}

/** Tokens of `chars` characters of prompt, as the simulator counts input (`request.ts`). */
const tokensOf = (chars: number) => Math.ceil(chars / 4);

export interface CacheUsage {
  readonly cacheReadInputTokens: number;
  readonly cacheWriteInputTokens: number;
}

export class PromptCache {
  /** Per model id: prefix digest → when it expires (epoch ms). */
  private readonly entries = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether the model takes `cachePoint` blocks. */
  supports(modelId: string): boolean {
    return minTokensPerCheckpoint(modelId) !== undefined;
  }

  /**
   * Reads and writes the cache for one call's checkpoints (in prompt order) to a model that {@link supports} prompt
   * caching, and returns the tokens it read and wrote.
   */
  use(modelId: string, checkpoints: readonly Checkpoint[]): CacheUsage {
    const min = minTokensPerCheckpoint(modelId) ?? Number.POSITIVE_INFINITY;
    const now = this.now();
    const cache = this.entries.get(modelId) ?? new Map<string, number>();
    this.entries.set(modelId, cache);
    for (const [key, expiresAt] of cache) if (expiresAt <= now) cache.delete(key);

    // The checkpoints Bedrock caches: each at least the minimum beyond the previous cached one.
    const valid: { tokens: number; key: string }[] = [];
    for (const { chars, key } of checkpoints) {
      const tokens = tokensOf(chars);
      if (tokens - (valid.at(-1)?.tokens ?? 0) >= min) valid.push({ tokens, key });
    }
    let read = 0;
    let readAt = -1;
    valid.forEach((checkpoint, i) => {
      if (cache.has(checkpoint.key)) {
        read = checkpoint.tokens;
        readAt = i;
      }
    });
    if (readAt >= 0) cache.set(valid[readAt].key, now + CACHE_TTL_MS);
    const written = valid.slice(readAt + 1);
    for (const { key } of written) cache.set(key, now + CACHE_TTL_MS);
    const last = written.at(-1);
    return { cacheReadInputTokens: read, cacheWriteInputTokens: last ? last.tokens - read : 0 };
  }

  clear(): void {
    this.entries.clear();
  }
}
