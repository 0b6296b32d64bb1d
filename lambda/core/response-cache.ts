/**
 * The response cache (`cache` in config/schema.ts): a complete answer is kept under the hash of its normalised request
 * and served again for the same request without a model call, a breaker check or a charge to the token budget; and it
 * is served when no model can answer that request at all (cache as fallback, see `chat-call.ts`).
 *
 * What is decided here: the key ({@link cacheKeyOf}), whether a request may read, write or fall back on the cache
 * ({@link ResponseCache.plan}), which answers are worth keeping, and the metrics. Where entries live is the
 * {@link ResponseCacheStore} port (DynamoDB: `lambda/aws/response-cache-store.ts`).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CACHE_STATUS_HEADER } from '../../config/headers';
import { DIMENSIONS, METRICS, type MetricSpec } from '../../config/metrics';
import type { CacheConfig } from '../../config/schema';
import type { ChatResult } from './chat';
import { type ModelPrice, modelCostMicroUsd, usdOfMicro } from './cost';
import type { ContentBlock, ModelRequest, TokenUsage } from './model';

/** One stored answer: what a hit serves. */
export interface CacheEntry {
  text: string;
  /** The model that produced it (`end.model` of a hit). */
  model: string;
  stopReason: string;
  /** The usage the original call reported: a hit reports it, so clients see what the answer cost to produce. */
  usage: TokenUsage;
  /** When it was stored (epoch ms). */
  createdAt: number;
}

/** Where entries live. Both calls may fail; the cache then acts as if it were empty (a read) or says nothing (a write). */
export interface ResponseCacheStore {
  /** The entry under `key`, if there is one that has not expired at `nowSeconds`. */
  get(key: string, nowSeconds: number): Promise<CacheEntry | undefined>;
  /** Stores `entry` under `key` until `expiresAt` (epoch s), replacing any entry there. */
  put(key: string, entry: CacheEntry, expiresAt: number): Promise<void>;
}

/** What a client asked of the cache with `Cache-Control` (RFC 9111 request directives we honour). */
export interface CacheDirectives {
  /** `no-cache`: do not serve a stored answer; a fresh one is still stored. */
  noCache: boolean;
  /** `no-store`: neither read nor store, nor serve a stored answer as a fallback. */
  noStore: boolean;
}

/**
 * Parses a `Cache-Control` request header; unknown directives are ignored, as RFC 9111 (HTTP Caching, section 5.2,
 * https://www.rfc-editor.org/rfc/rfc9111#section-5.2) asks.
 */
export function cacheDirectivesOf(header: string | undefined): CacheDirectives {
  const directives = new Set(
    (header ?? '')
      .split(',')
      .map((d) => d.split('=')[0]?.trim().toLowerCase())
      .filter(Boolean),
  );
  // `max-age=0` asks for a response no older than zero seconds: no stored answer qualifies, as with no-cache.
  const maxAgeZero = /(?:^|,)\s*max-age\s*=\s*"?0"?\s*(?:,|$)/i.test(header ?? '');
  return { noCache: directives.has('no-cache') || maxAgeZero, noStore: directives.has('no-store') };
}

/** The `x-cache` header of an answer, when the cache is on. */
export function cacheStatusHeaders(status: CacheStatus | undefined): Record<string, string> {
  return status === undefined ? {} : { [CACHE_STATUS_HEADER]: status };
}

/** `x-cache`: whether the answer came from the cache, was looked up and not found, or was not looked up. */
export type CacheStatus = 'hit' | 'miss' | 'bypass';

/** What one request may do with the cache, decided before anything is read. */
export interface CachePlan {
  key: string;
  /** Whether a stored answer may be served as the answer. */
  read: boolean;
  /** Whether the fresh answer may be stored. */
  write: boolean;
  /** Whether a stored answer may be served when no model can answer. */
  fallback: boolean;
}

/** A call's cache: what it may do, what the lookup found, and the entry it serves if it serves one. */
export interface CallCache {
  cache: ResponseCache;
  plan: CachePlan;
  /** What the answer's `x-cache` says. */
  status: CacheStatus;
  /** The stored answer the call serves; unset: a model answers. */
  entry?: CacheEntry;
}

/** Stop reasons of a complete answer: the model finished, or met a stop sequence the request asked for. */
const COMPLETE_STOP_REASONS: ReadonlySet<string> = new Set(['end_turn', 'stop_sequence', 'stop']);

/**
 * DynamoDB's item limit is 400 KB, attribute names and values together (Amazon DynamoDB Developer Guide,
 * "Constraints", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items, and
 * "Item sizes", .../CapacityUnitCalculations.html, read 2026-12-01); entries are kept well under it so the other
 * attributes (key, model, usage, times) always fit.
 */
export const MAX_ENTRY_BYTES = 380 * 1024;

/** Bumped when the normal form changes, so entries of an older form are never read as matches. */
const KEY_VERSION = 'v1';

/**
 * The cache key of `request` when it may use the models `models` (the chain after aliases are resolved): the scope
 * (`user#<userId>` or `global`), then the SHA-256 of the request in a normal form, so that requests that mean the same
 * share an entry: text as a string or as one text block, tool schemas whatever their key order, stop sequences
 * whatever their order, the native and the OpenAI-compatible routes asking the same of the same chain. Images are
 * hashed by their bytes.
 */
export function cacheKeyOf(
  request: ModelRequest,
  models: readonly string[],
  scope: CacheConfig['scope'],
  userId: string,
): string {
  const normal = {
    v: KEY_VERSION,
    models,
    system: request.system || undefined,
    messages: request.messages.map((turn) => ({ role: turn.role, content: normalContent(turn.content) })),
    tools: request.tools?.length ? request.tools : undefined,
    // Converse ignores the tool choice of a request that offers no tools.
    toolChoice: request.tools?.length ? request.toolChoice : undefined,
    temperature: request.temperature,
    topP: request.topP,
    stopSequences: request.stopSequences?.length ? [...request.stopSequences].sort() : undefined,
    maxTokens: request.maxTokens,
  };
  const digest = createHash('sha256').update(canonicalJson(normal)).digest('hex');
  return scope === 'user' ? `user#${userId}#${digest}` : `global#${digest}`;
}

function normalContent(content: string | ContentBlock[]): unknown[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((block) =>
    block.type === 'image'
      ? { type: 'image', format: block.format, sha256: createHash('sha256').update(block.bytes).digest('hex') }
      : block,
  );
}

/** JSON with object keys sorted at every depth and `undefined` members dropped: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${members.join(',')}}`;
}

/** Whether `result` is an answer worth serving again: complete, text only, from a model (not degraded, not cached). */
export function isStorable(result: ChatResult): boolean {
  return (
    COMPLETE_STOP_REASONS.has(result.stopReason) &&
    !result.toolCalls?.length &&
    result.cached !== true &&
    result.text.length > 0
  );
}

/** Whether the request's sampling settings make its answer vary from call to call. */
export function isNonDeterministic(request: ModelRequest): boolean {
  return request.temperature !== undefined && request.temperature > 0;
}

/** Bytes an entry takes in a DynamoDB item, generously (names and values as UTF-8, numbers as text). */
export function entryBytes(key: string, entry: CacheEntry): number {
  return Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(entry)) + 64;
}

/**
 * Splits a stored answer into chunks the size a model streams (a word and the space after it), so a hit reads like a
 * model's answer in every client, and a long answer is not one event.
 */
export function chunksOf(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

export interface ResponseCacheOptions {
  readonly store: ResponseCacheStore;
  readonly settings: CacheConfig;
  /** The endpoint dimension of the cache metrics (`config/metrics.ts` ENDPOINTS, or `reports`). */
  readonly endpoint: string;
  /**
   * The models' prices (`models.prices`), for the dollars a served answer saved (`CacheUsdSaved`: its stored usage at
   * the price of the model that produced it); unset, or a model without a price: only the tokens saved are counted.
   */
  readonly prices?: Readonly<Record<string, ModelPrice>>;
  readonly logger?: Pick<Logger, 'warn' | 'debug'>;
  readonly metrics?: Pick<Metrics, 'singleMetric'>;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The cache of one function: its plan for each request, reads and writes that never fail the request, and metrics. */
export class ResponseCache {
  private readonly now: () => number;

  constructor(private readonly options: ResponseCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** What `request` (of `userId`, on the chain `models`, with the client's `directives`) may do with the cache. */
  plan(request: ModelRequest, models: readonly string[], userId: string, directives?: CacheDirectives): CachePlan {
    const { settings } = this.options;
    const key = cacheKeyOf(request, models, settings.scope, userId);
    const noStore = directives?.noStore === true;
    const sampled = isNonDeterministic(request) && settings.nonDeterministic === 'bypass';
    return {
      key,
      read: !noStore && !sampled && directives?.noCache !== true,
      // A sampled answer is never served as the answer to a later request, but it is stored (under its own key, the
      // sampling settings are part of it) so that it can be served when no model can answer the same request.
      write: !noStore && (!sampled || settings.fallback),
      fallback: !noStore && settings.fallback,
    };
  }

  /** The stored answer for the plan's key; a failed read is logged and counted, and is a miss. */
  async get(plan: CachePlan): Promise<CacheEntry | undefined> {
    try {
      return await this.options.store.get(plan.key, Math.floor(this.now() / 1000));
    } catch (err) {
      this.options.logger?.warn('response cache read failed; calling the model', { error: err as Error });
      this.count(METRICS.cacheErrors, 1, false);
      return undefined;
    }
  }

  /**
   * Stores a model's answer if the plan allows it and the answer is worth serving again ({@link isStorable}); an answer
   * too large for one item is skipped (logged at debug, counted). Never throws.
   */
  async put(plan: CachePlan, result: ChatResult): Promise<void> {
    if (!plan.write || !isStorable(result)) return;
    const createdAt = this.now();
    const entry: CacheEntry = {
      text: result.text,
      model: result.model,
      stopReason: result.stopReason,
      usage: result.usage,
      createdAt,
    };
    const bytes = entryBytes(plan.key, entry);
    if (bytes > MAX_ENTRY_BYTES) {
      this.options.logger?.debug('answer too large for the response cache; not stored', { bytes });
      this.count(METRICS.cacheEntriesTooLarge, 1, false);
      return;
    }
    try {
      await this.options.store.put(plan.key, entry, Math.floor(createdAt / 1000) + this.options.settings.ttlSeconds);
    } catch (err) {
      this.options.logger?.warn('response cache write failed; the answer was not stored', { error: err as Error });
      this.count(METRICS.cacheErrors, 1, false);
    }
  }

  /** Counts one request's lookup: a hit (with the tokens it saved), a miss, or a bypass. */
  recordLookup(status: CacheStatus, entry?: CacheEntry): void {
    const spec = { hit: METRICS.cacheHits, miss: METRICS.cacheMisses, bypass: METRICS.cacheBypasses }[status];
    this.count(spec, 1);
    if (entry) this.recordSaved(entry);
  }

  /** Counts an answer served from the cache because no model could answer, and the tokens it saved. */
  recordFallback(entry: CacheEntry): void {
    this.count(METRICS.cacheFallbacks, 1);
    this.recordSaved(entry);
  }

  private recordSaved(entry: CacheEntry): void {
    this.count(METRICS.cacheTokensSaved, entry.usage.inputTokens + entry.usage.outputTokens);
    const { prices } = this.options;
    const saved = prices && modelCostMicroUsd(prices, entry.model, entry.usage);
    if (saved !== undefined) this.count(METRICS.cacheUsdSaved, usdOfMicro(saved));
  }

  private count(spec: MetricSpec, value: number, byEndpoint = true): void {
    const { metrics, endpoint } = this.options;
    if (!metrics) return;
    const single = metrics.singleMetric();
    if (byEndpoint) single.addDimension(DIMENSIONS.endpoint, endpoint);
    single.addMetric(spec.name, spec.unit as Parameters<Metrics['addMetric']>[1], value);
  }
}
