/**
 * The one configuration of the API, read by the CDK app (from `cdk.json` context `genai`), by the local cloud, and,
 * as its runtime part, by the Lambda handlers (from the `GENAI_CONFIG` environment variable the stack writes).
 *
 * Plain TypeScript + zod: no aws-cdk-lib here, so function bundles can import it.
 * Every field has a default; a bad value fails at synth or start with a message naming the field.
 */
import { z } from 'zod';
import type { FunctionName } from './routes';
import { ANY_ORIGIN, isExactOrigin } from './headers';
import { configuredModels, modelChain } from './models';
import { issueLines, problemOf } from './zod-issues';

const modelId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-zA-Z0-9._:\-/]+$/, 'a Bedrock model id, inference profile id or ARN');

/**
 * The largest `plans.<plan>.maxConcurrentRequests`: every call in flight is one attribute of the user's item in the
 * guard table, and a limit this high is no longer a per-user limit but the account's (see the README's concurrency
 * arithmetic).
 */
export const MAX_CONCURRENT_REQUESTS = 1000;

/**
 * The largest dollar budget (`plans.<plan>.usdPerDay`, `usdPerMonth`): kept in micro-dollars, a budget stays far below
 * 2^53 (exact integers in DynamoDB numbers and in JavaScript alike).
 */
export const MAX_USD_BUDGET = 1_000_000_000;

/** A price in US dollars per million tokens, to a thousandth of a dollar (kept exactly as an integer, see lambda/core/cost.ts). */
const usdPerMillion = z
  .number()
  .nonnegative()
  .max(1_000_000)
  .refine((usd) => Math.abs(usd * 1000 - Math.round(usd * 1000)) < 1e-6, {
    message: 'at most 3 decimal places (US dollars per million tokens)',
  });

/**
 * One model's prices in US dollars per million tokens, as the Bedrock pricing page lists them for the Region and
 * inference profile the stack calls (on-demand).
 */
export const modelPriceSchema = z
  .object({
    /** Input tokens read normally (not from or into the prompt cache). */
    input: usdPerMillion,
    /** Output tokens. */
    output: usdPerMillion,
    /** Input tokens read from the prompt cache. @default the input price */
    cacheRead: usdPerMillion.optional(),
    /** Input tokens written to the prompt cache. @default the input price */
    cacheWrite: usdPerMillion.optional(),
  })
  .strict();
export type ModelPriceConfig = z.infer<typeof modelPriceSchema>;

/**
 * Bedrock prompt caching for one model (Converse `cachePoint` blocks): the model must support it in the Region called.
 */
export const promptCachingSchema = z
  .object({
    /**
     * The fewest tokens a cache checkpoint may hold (counted from the previous checkpoint, or the start of the prompt);
     * a shorter prefix is not cached by Bedrock, so no checkpoint is placed there.
     */
    minTokensPerCheckpoint: z.number().int().min(1).max(100_000),
  })
  .strict();
export type PromptCachingConfig = z.infer<typeof promptCachingSchema>;

/** The default models (`models.primary`, `models.fallbacks`): Claude Sonnet 4 and Claude 3.5 Haiku, US profiles. */
const SONNET_4 = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const HAIKU_3_5 = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';

/**
 * Prices of the default models: Amazon Bedrock on-demand list prices for US Regions (https://aws.amazon.com/bedrock/pricing/,
 * Anthropic models, as of March 2026). Cache writes cost 1.25× and cache reads 0.1× the input price. Prices
 * change: check them against that page and set `models.prices` for the models you call.
 */
export const DEFAULT_PRICES: Record<string, ModelPriceConfig> = {
  [SONNET_4]: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  [HAIKU_3_5]: { input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 },
};

/**
 * Prompt caching of the default models: both support it on Bedrock with at most 4 checkpoints per request, at least
 * 1,024 tokens per checkpoint for Claude Sonnet 4 and 2,048 for Claude 3.5 Haiku (Amazon Bedrock User Guide, "Prompt
 * caching for faster model inference", https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html, as
 * of March 2026).
 */
export const DEFAULT_PROMPT_CACHING: Record<string, PromptCachingConfig> = {
  [SONNET_4]: { minTokensPerCheckpoint: 1024 },
  [HAIKU_3_5]: { minTokensPerCheckpoint: 2048 },
};

export const planSchema = z
  .object({
    /** Steady-state requests per second per API key (API Gateway usage plan throttle). */
    rateLimit: z.number().positive(),
    /** Bucket size for bursts per API key (API Gateway usage plan throttle). */
    burstLimit: z.number().int().positive(),
    /** Requests per day per API key (API Gateway usage plan quota). */
    requestsPerDay: z.number().int().positive(),
    /** Model tokens (input + output) per user per day, enforced by an atomic DynamoDB counter. */
    tokensPerDay: z.number().int().positive(),
    /**
     * Model calls one user may have in flight at once, across every instance: `/chat/stream`, `/chat` and
     * `/chat/completions` (streamed or not). Each call holds a lease in DynamoDB until it ends or its deadline passes;
     * past the limit a call is refused with `429 CONCURRENCY_LIMIT_EXCEEDED`. Reports do not count (the queue and
     * `reports.maxConcurrency` pace them).
     * @default 10 (the default plans: free 2, pro 20)
     */
    maxConcurrentRequests: z.number().int().min(1).max(MAX_CONCURRENT_REQUESTS).default(10),
    /**
     * Model spend per user per UTC day, in US dollars, from `models.prices`: reserved before each call (its input
     * estimate and `maxTokens` at the highest prices of its model chain) and settled from its cost, in the same atomic
     * write as the token budget; past it a call is refused with `429 COST_BUDGET_EXCEEDED`. Every configured model
     * must then have a price. Unset: no daily dollar budget.
     */
    usdPerDay: z.number().positive().max(MAX_USD_BUDGET).optional(),
    /** The same per UTC calendar month. Unset: no monthly dollar budget. */
    usdPerMonth: z.number().positive().max(MAX_USD_BUDGET).optional(),
  })
  .strict();
export type PlanConfig = z.infer<typeof planSchema>;

/** A model name clients may use instead of a model id: one model and its own fallback chain. */
export const modelAliasSchema = z
  .object({
    /** The model the alias tries first. */
    model: modelId,
    /** Tried in order when the one before is unavailable, as `models.fallbacks` is for the primary. */
    fallbacks: z.array(modelId).max(5).default([]),
  })
  .strict();

/**
 * One model's share of the account's Bedrock quotas, enforced across every instance before the model is called (see
 * `lambda/core/quota.ts`). Set these to the account's Bedrock quotas (Service Quotas) for that model and Region, less
 * whatever other applications of the account use of them.
 */
export const modelQuotaSchema = z
  .object({
    /** Model calls per minute (any operation). Unset: calls are not counted. */
    requestsPerMinute: z.number().int().positive().optional(),
    /** Input plus output tokens per minute; a call is charged its input estimate plus `maxTokens`, then its usage. */
    tokensPerMinute: z.number().int().positive().optional(),
  })
  .strict()
  .refine(
    (q) => q.requestsPerMinute !== undefined || q.tokensPerMinute !== undefined,
    'set requestsPerMinute, tokensPerMinute or both',
  );
export type ModelQuotaConfig = z.infer<typeof modelQuotaSchema>;

export const modelsSchema = z
  .object({
    /** The model every call tries first. */
    primary: modelId.default(SONNET_4),
    /** Tried in order when the one before is unavailable (breaker open, or failed before the first token). */
    fallbacks: z.array(modelId).max(5).default([HAIKU_3_5]),
    /**
     * When every model is unavailable, answer with this text instead of an error (served as model `degraded`).
     * Unset: the caller gets `503 MODEL_UNAVAILABLE` with `Retry-After`.
     */
    degradedAnswer: z.string().min(1).max(2000).optional(),
    /**
     * Names the OpenAI-compatible routes accept as `model` besides the configured ids (`GET /models` lists both), e.g.
     * `{"fast": {"model": "…haiku…"}}`. Their models join the configured set the functions may call.
     */
    aliases: z
      .record(
        z.string().regex(/^[a-z][a-z0-9._-]{0,63}$/, 'an alias: lowercase letters, digits, dots, dashes'),
        modelAliasSchema,
      )
      .default({}),
    /**
     * Per-model quotas, by model id (`models.primary`, a fallback, or an alias's model), e.g.
     * `{"us.anthropic.claude-sonnet-4-20250514-v1:0": {"requestsPerMinute": 200, "tokensPerMinute": 400000}}`. A call
     * to a model over its quota goes to the next model in the chain; with every model over, it waits up to
     * `quotaWaitMs` for room, else is refused with `429 MODEL_QUOTA_EXCEEDED` and `Retry-After`. Unset: no quota.
     */
    quotas: z.record(modelId, modelQuotaSchema).default({}),
    /**
     * Longest a call waits, within its deadline, for room in a model's quota when every model of its chain is over:
     * past it the call is refused at once. The report worker waits in its queue instead, for as long as it takes.
     */
    quotaWaitMs: z.number().int().min(0).max(10_000).default(1_000),
    /**
     * Prices per model id, in US dollars per million tokens (`{"input", "output", "cacheRead"?, "cacheWrite"?}`): the
     * cost of every call (`costUsd`, the `CostUsd` metric, the request log) and the dollar budgets
     * (`plans.<plan>.usdPerDay`, `usdPerMonth`). A model without a price has no cost. No price is built in beyond the
     * defaults of the default models, dated in {@link DEFAULT_PRICES}: setting this replaces them.
     */
    prices: z.record(modelId, modelPriceSchema).default(DEFAULT_PRICES),
    /**
     * Bedrock prompt caching per model id: for these models a cache checkpoint follows the system prompt and the
     * history before the newest user turn, each where it holds at least `minTokensPerCheckpoint` tokens. Set it only for
     * models that support prompt caching; `{}` turns it off. Defaults: the default models, dated in
     * {@link DEFAULT_PROMPT_CACHING}.
     */
    promptCaching: z.record(modelId, promptCachingSchema).default(DEFAULT_PROMPT_CACHING),
  })
  .strict();

export const chatSchema = z
  .object({
    /** Longest accepted `message` and `system`, in characters. */
    maxMessageChars: z.number().int().positive().default(32_000),
    /** Most `history` turns accepted. */
    maxHistoryMessages: z.number().int().nonnegative().default(50),
    /** Largest total of characters across message, system and history. */
    maxTotalChars: z.number().int().positive().default(200_000),
    /** `maxTokens` used when the client sends none. */
    defaultMaxTokens: z.number().int().positive().default(1024),
    /** Largest `maxTokens` a client may ask for. */
    maxTokensLimit: z.number().int().positive().default(8192),
    /** Interval of `: keep-alive` comments while the stream has nothing else to send. */
    keepAliveMs: z.number().int().min(100).default(10_000),
    /** Longest a stream may run (API Gateway STREAM integration timeout and Lambda timeout). At most 900. */
    streamTimeoutSeconds: z.number().int().min(30).max(900).default(900),
    /** Longest a synchronous call may run. API Gateway's buffered integrations allow at most 29 s by default. */
    syncTimeoutSeconds: z.number().int().min(5).max(29).default(29),
    /**
     * Give up on a model whose first token has not arrived after this long (counts as a timeout). Below the Bedrock
     * client's 120 s idle-socket timeout (`lambda/aws/clients.ts`), so this, not the socket, decides.
     */
    ttftTimeoutMs: z.number().int().positive().max(110_000).default(15_000),
    /**
     * Extra passes over the model chain after every model failed before content with a retryable error (throttling,
     * 5xx, timeouts), each after a jittered backoff, and only while the deadline leaves room for a first token.
     */
    retryRounds: z.number().int().min(0).max(3).default(1),
    /** Backoff before the first extra pass; doubles per pass; full jitter (a random share of it is waited). */
    retryBaseDelayMs: z.number().int().min(0).max(10_000).default(200),
  })
  .strict();

export const breakerSchema = z
  .object({
    /** Length of the sliding window over which failure and slow-call rates are measured. */
    windowSeconds: z.number().int().positive().default(60),
    /** Fewest calls in the window before a rate can trip the breaker. */
    minimumCalls: z.number().int().positive().default(10),
    /** Failure share (0..1) in the window that opens the breaker. */
    failureRateThreshold: z.number().gt(0).max(1).default(0.5),
    /** Slow-call share (0..1) in the window that opens the breaker. */
    slowCallRateThreshold: z.number().gt(0).max(1).default(0.8),
    /** A call whose first token took longer than this is slow. */
    slowCallTtftMs: z.number().int().positive().default(8_000),
    /** First wait in OPEN before a probe is allowed. */
    openSeconds: z.number().int().positive().default(30),
    /** Longest wait in OPEN after repeated trips (the wait doubles per consecutive trip up to this). */
    maxOpenSeconds: z.number().int().positive().default(300),
    /** How long one half-open probe holds its lease before another caller may probe. */
    probeLeaseSeconds: z.number().int().positive().default(60),
    /** How long a breaker read is cached in memory per instance. */
    cacheMs: z.number().int().nonnegative().max(5_000).default(1_000),
  })
  .strict();

export const reportsSchema = z
  .object({
    /** Longest accepted `prompt`, in characters. */
    maxPromptChars: z.number().int().positive().default(100_000),
    /** Largest `metadata` object, in bytes of JSON. */
    maxMetadataBytes: z.number().int().positive().default(4_096),
    /** `maxTokens` for the report's model call. */
    maxTokens: z.number().int().positive().default(4096),
    /** How long finished reports are kept (DynamoDB TTL). */
    retentionDays: z.number().int().positive().default(30),
    /** Deliveries of one job before its message goes to the dead-letter queue. */
    maxReceiveCount: z.number().int().min(1).max(20).default(3),
    /** SQS visibility timeout; must exceed the worker's timeout. */
    visibilityTimeoutSeconds: z.number().int().positive().default(960),
    /** Worker Lambda timeout. */
    workerTimeoutSeconds: z.number().int().min(30).max(900).default(900),
    /** Messages per worker invocation. */
    batchSize: z.number().int().min(1).max(10).default(1),
    /** How long an `Idempotency-Key` returns the same report. */
    idempotencyHours: z.number().int().positive().default(24),
    /** `Retry-After` sent while a report is not finished. */
    pollAfterSeconds: z.number().int().positive().default(5),
    /**
     * How often a running report's worker renews its lease check and learns of a cancel (`POST /reports/{id}/cancel`);
     * a cancelled report stops within about this long plus the model's abort.
     */
    cancelCheckIntervalMs: z.number().int().min(100).max(1_000).default(1_000),
    /**
     * Most worker invocations the job queue's event source mapping runs at once (its `ScalingConfig`), so a burst of
     * reports waits in the queue instead of taking the account's concurrency. Lambda accepts 2 to 1000.
     */
    maxConcurrency: z.number().int().min(2).max(1_000).default(10),
  })
  .strict();

export const feedbackSchema = z
  .object({
    /**
     * How long a request can be rated, and its record (owner, endpoint, model, rating) kept: DynamoDB TTL, and compared
     * when feedback is written, since TTL deletion can lag by days.
     */
    retentionDays: z.number().int().min(1).max(3650).default(30),
  })
  .strict();

export const streamsSchema = z
  .object({
    /**
     * Whether every `/chat/stream` answer is recorded in the stream log (config/tables.ts `streams`), so it can be
     * cancelled on AWS and resumed. Off: no log writes, no resume, and cancel answers `404`.
     */
    enabled: z.boolean().default(true),
    /** How long a stream can be resumed; after it, resume and cancel answer `410` for a day, then `404`. */
    retentionMinutes: z.number().int().min(1).max(10080).default(60),
    /**
     * How often the writer flushes its batch and reads the cancel flag back (also with nothing new to write, as a
     * heartbeat): at most 1000 so that a cancel is learnt within a second.
     */
    flushIntervalMs: z.number().int().min(50).max(1000).default(500),
    /** A batch is flushed as soon as its events reach this many bytes (DynamoDB items hold at most 400 KB). */
    maxBatchBytes: z.number().int().min(1024).max(262144).default(65536),
  })
  .strict();

/** The longest `cache.ttlSeconds`: 30 days. An answer kept longer is more likely stale than useful. */
export const MAX_CACHE_TTL_SECONDS = 30 * 24 * 3600;

export const cacheSchema = z
  .object({
    /**
     * Whether complete answers are kept in the response cache (config/tables.ts `cache`) and served again for the same
     * request, without a model call, a breaker check or a charge to the token budget; and served as a fallback when no
     * model can answer. Off: no cache table is deployed and no request reads or writes one.
     * @default false
     */
    enabled: z.boolean().default(false),
    /** How long a stored answer is served (DynamoDB TTL cleans up; expiry is compared on every read). */
    ttlSeconds: z.number().int().min(60).max(MAX_CACHE_TTL_SECONDS).default(3600),
    /**
     * Who shares an entry: `user` (each user reads only answers to their own requests) or `global` (every user with the
     * same request gets the same stored answer: only for deployments where users are one tenant and no prompt holds
     * one user's private data).
     * @default 'user'
     */
    scope: z.enum(['user', 'global']).default('user'),
    /**
     * Requests whose sampling settings make the answer vary from call to call (an explicit `temperature` above 0):
     * `bypass` calls the model for every one of them (their answers are still stored, under keys of their own, when
     * `fallback` is on, to be served only when no model can answer); `cache` treats them as any other request. A
     * request without sampling settings is cached either way (it asks for the deployment's answer, not a varied one).
     * @default 'bypass'
     */
    nonDeterministic: z.enum(['bypass', 'cache']).default('bypass'),
    /**
     * Whether a stored answer is served when no model can answer the request (every breaker open, or every model
     * failed before content), before the degraded answer or a `503`, even for a request whose normal read was bypassed
     * (`Cache-Control: no-cache`, sampling settings). `Cache-Control: no-store` forbids it.
     * @default true
     */
    fallback: z.boolean().default(true),
  })
  .strict();
export type CacheConfig = z.infer<typeof cacheSchema>;

export const subscriberSchema = z
  .object({
    /** A short name, used in resource ids. */
    name: z.string().regex(/^[A-Za-z0-9-]{1,40}$/),
    /**
     * The `https://` endpoint that receives every finished report. (`http://127.0.0.1:<port>` only with
     * `webhooks.allowLoopbackCallbacks`, which the local cloud sets and the CDK app refuses.)
     */
    endpoint: z
      .string()
      .url()
      .regex(/^(https:\/\/|http:\/\/127\.0\.0\.1[:/])/, 'must use https'),
    /** Header the connection sends for authentication. */
    apiKeyHeader: z.string().min(1).default('x-api-key'),
    /** Secrets Manager secret name holding the header's value. */
    apiKeySecretName: z.string().min(1),
    /** Deliveries per second at most. */
    rateLimitPerSecond: z.number().int().min(1).max(300).default(10),
  })
  .strict();

export const webhooksSchema = z
  .object({
    /** Deploy-time subscribers: an EventBridge API destination each. */
    subscribers: z.array(subscriberSchema).default([]),
    /** Timeout of one per-report callback delivery. */
    deliveryTimeoutMs: z.number().int().positive().max(30_000).default(5_000),
    /** Attempts per per-report callback before it is dead-lettered. */
    maxAttempts: z.number().int().min(1).max(20).default(6),
    /**
     * Local cloud only: accept `http://127.0.0.1:<port>` callback URLs so tests can receive webhooks on one machine.
     * The CDK app refuses to synthesise a stack with it set.
     */
    allowLoopbackCallbacks: z.boolean().default(false),
  })
  .strict();

export const observabilitySchema = z
  .object({
    /** Powertools service name (log field and metrics dimension). */
    serviceName: z.string().min(1).default('genai-api'),
    /** CloudWatch metrics namespace. */
    metricsNamespace: z.string().min(1).default('GenAiApi'),
    /** Log level of the functions. */
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** CloudWatch Logs retention for every function and the API access log. */
    logRetentionDays: z.number().int().positive().default(30),
    /** Alarm when the p99 time to first token of `POST /chat/stream` for a configured model stays above this. */
    ttftAlarmMs: z.number().int().positive().default(5_000),
    /** Email address subscribed to the alarm topic (it must confirm the subscription). Unset: no subscription. */
    alarmEmail: z.email().optional(),
    /**
     * Alarm when the Region's claimed Lambda concurrency (`ClaimedAccountConcurrency`, every function of the account)
     * reaches this in a minute. The default is 80% of the default account quota of 1,000; set it to about 80% of yours.
     */
    accountConcurrencyAlarm: z.number().int().min(1).default(800),
    /**
     * Bundle the functions with source maps and run them with `NODE_OPTIONS=--enable-source-maps`, so stack traces in
     * the logs name the TypeScript files and lines. Off by default: Node reads and parses the map when it loads the
     * bundle, which lengthens every cold start.
     */
    sourceMaps: z.boolean().default(false),
  })
  .strict();

/** Every function of the stack, by its folder name under `lambda/functions/`. */
export const FUNCTION_NAMES = [
  'chat-stream',
  'cancel-stream',
  'chat',
  'submit-report',
  'get-report',
  'cancel-report',
  'openai-chat',
  'models',
  'feedback',
  'resume-stream',
  'authorizer',
  'report-worker',
  'report-dlq',
  'webhook-sender',
] as const satisfies readonly FunctionName[];

/** Compile-time check that `FUNCTION_NAMES` lists every `FunctionName`: a function added to the routes fails here. */
const everyFunctionListed: [Exclude<FunctionName, (typeof FUNCTION_NAMES)[number]>] extends [never] ? true : never =
  true;
void everyFunctionListed;

export const functionSettingsSchema = z
  .object({
    /**
     * Concurrent executions reserved for the function and the most it may run: a cap that keeps it from starving the
     * others of the account's concurrency, and a floor they cannot take from it. Unset: the account's shared pool.
     */
    reservedConcurrency: z.number().int().min(1).optional(),
  })
  .strict();
export type FunctionSettings = z.infer<typeof functionSettingsSchema>;

/** Settings per function, by name (`functions.<name>`); an unknown name fails naming it. */
export const functionsSchema = z.partialRecord(z.enum(FUNCTION_NAMES), functionSettingsSchema);

export const corsSchema = z
  .object({
    /**
     * Origins whose browser pages may call the API (CORS), each exactly as a browser sends it in `Origin`:
     * `scheme://host[:port]`, `http` or `https`, lowercase, no default port, no path or trailing slash, e.g.
     * `["https://app.example.com", "http://localhost:5173"]`. `["*"]` alone allows any origin, which is safe here
     * because the API key travels in a header, never in a cookie, so a page can only use a key it already holds.
     * Empty: CORS is off (no preflight methods, no CORS headers), and browsers refuse cross-origin calls.
     */
    allowOrigins: z
      .array(
        z
          .string()
          .refine(
            (o) => o === ANY_ORIGIN || isExactOrigin(o),
            'must be an origin as browsers send it: http(s)://host[:port], lowercase, without the default port, ' +
              'a path or a trailing slash; or "*" alone',
          ),
      )
      .max(50)
      .default([])
      .superRefine((origins, ctx) => {
        if (origins.includes(ANY_ORIGIN) && origins.length > 1) {
          ctx.addIssue({ code: 'custom', message: '"*" (any origin) must be the only entry' });
        }
        const repeated = origins.find((o, i) => origins.indexOf(o) !== i);
        if (repeated !== undefined) ctx.addIssue({ code: 'custom', message: `must not repeat ${repeated}` });
      }),
    /** How long a browser may reuse a preflight answer (`Access-Control-Max-Age`); Chromium caps it at 7200. */
    maxAgeSeconds: z.number().int().min(1).max(86_400).default(600),
  })
  .strict();

export const apiSchema = z
  .object({
    /** Cross-origin calls from browser pages; every preflight is answered without an API key. */
    cors: corsSchema.default(corsSchema.parse({})),
  })
  .strict();

/** The usage plans when `plans` is not configured. */
export const DEFAULT_PLANS: Readonly<Record<string, PlanConfig>> = {
  free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 1_000, tokensPerDay: 50_000, maxConcurrentRequests: 2 },
  pro: { rateLimit: 50, burstLimit: 100, requestsPerDay: 100_000, tokensPerDay: 5_000_000, maxConcurrentRequests: 20 },
};

export const appConfigSchema = z
  .object({
    /** CloudFormation stack name. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
      .default('GenAiApi'),
    /** AWS region for Bedrock calls; unset: the stack's region. */
    bedrockRegion: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
      .optional(),
    models: modelsSchema.default(modelsSchema.parse({})),
    chat: chatSchema.default(chatSchema.parse({})),
    /** Usage plans by name. Each API key belongs to exactly one. */
    plans: z
      .record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'a plan name: lowercase letters, digits, dashes'), planSchema)
      .refine((p) => Object.keys(p).length > 0, 'at least one plan')
      .default(DEFAULT_PLANS),
    breaker: breakerSchema.default(breakerSchema.parse({})),
    reports: reportsSchema.default(reportsSchema.parse({})),
    feedback: feedbackSchema.default(feedbackSchema.parse({})),
    streams: streamsSchema.default(streamsSchema.parse({})),
    cache: cacheSchema.default(cacheSchema.parse({})),
    webhooks: webhooksSchema.default(webhooksSchema.parse({})),
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    api: apiSchema.default(apiSchema.parse({})),
    /** Per-function settings, by function name, e.g. `{"chat-stream": {"reservedConcurrency": 200}}`. */
    functions: functionsSchema.default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const workerReserved = c.functions['report-worker']?.reservedConcurrency;
    if (workerReserved !== undefined && workerReserved < c.reports.maxConcurrency) {
      // The event source mapping would invoke past the reservation and its invocations would be throttled.
      ctx.addIssue({
        code: 'custom',
        path: ['functions', 'report-worker', 'reservedConcurrency'],
        message: `must be at least reports.maxConcurrency (${c.reports.maxConcurrency})`,
      });
    }
    if (c.reports.visibilityTimeoutSeconds <= c.reports.workerTimeoutSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['reports', 'visibilityTimeoutSeconds'],
        message: `must exceed reports.workerTimeoutSeconds (${c.reports.workerTimeoutSeconds})`,
      });
    }
    c.webhooks.subscribers.forEach((subscriber, i) => {
      if (subscriber.endpoint.startsWith('http://') && !c.webhooks.allowLoopbackCallbacks) {
        ctx.addIssue({ code: 'custom', path: ['webhooks', 'subscribers', i, 'endpoint'], message: 'must use https' });
      }
    });
    if (c.breaker.maxOpenSeconds < c.breaker.openSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['breaker', 'maxOpenSeconds'],
        message: 'must be at least breaker.openSeconds',
      });
    }
    if (c.models.fallbacks.includes(c.models.primary)) {
      ctx.addIssue({ code: 'custom', path: ['models', 'fallbacks'], message: 'must not repeat models.primary' });
    }
    const callable = new Set(configuredModels(c));
    for (const id of Object.keys(c.models.quotas)) {
      if (!callable.has(id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', 'quotas', id],
          message: "must be a configured model id (models.primary, models.fallbacks or an alias's model)",
        });
      }
    }
    for (const [plan, settings] of Object.entries(c.plans)) {
      const budget =
        settings.usdPerDay !== undefined ? 'usdPerDay' : settings.usdPerMonth !== undefined ? 'usdPerMonth' : undefined;
      if (budget === undefined) continue;
      for (const id of callable) {
        if (Object.hasOwn(c.models.prices, id)) continue;
        ctx.addIssue({
          code: 'custom',
          path: ['models', 'prices', id],
          message: `required: plans.${plan}.${budget} is a dollar budget, and every model a call may use needs a price`,
        });
      }
      break;
    }
    const ids = new Set(modelChain(c));
    for (const [name, alias] of Object.entries(c.models.aliases)) {
      if (ids.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', 'aliases', name],
          message: 'must not be a configured model id',
        });
      }
      if (alias.fallbacks.includes(alias.model)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', 'aliases', name, 'fallbacks'],
          message: `must not repeat models.aliases.${name}.model`,
        });
      }
    }
  });

export type AppConfig = z.infer<typeof appConfigSchema>;
export type AppConfigInput = z.input<typeof appConfigSchema>;

/** Raised for configuration that does not validate; the message names every bad field. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates raw configuration (already-parsed JSON) and fills in defaults. */
export function parseConfig(raw: unknown, source = 'configuration'): AppConfig {
  const result = appConfigSchema.safeParse(raw ?? {}, { error: problemOf });
  if (result.success) return result.data;
  const issues = issueLines(result.error, '(root)');
  throw new ConfigError(`Invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
}

// Zod-free helpers over a validated configuration, kept in their own module so the functions' bundles need no zod.
export { configuredModels, modelChain, modelChainFor } from './models';
