/**
 * Request bodies of the client contract (README.md), as zod schemas. The handlers parse with them; the stack turns them
 * into API Gateway JSON-schema models (draft-04) so malformed bodies are rejected before a function runs.
 *
 * Written with `zod/mini`, the tree-shakable form of the same schemas (same checks, issues and JSON Schema): the
 * functions bundle only the checks used here instead of all of zod, which would be the largest part of every function.
 *
 * Size limits here are the hard ceiling; the configured limits (`chat.maxMessageChars`, …) are checked by the handlers.
 */
import * as z from 'zod/mini';

export const HARD_MAX_CHARS = 200_000;

/** A non-empty string of at most `max` characters. */
const text = (max: number) => z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(max));

export const chatMessageSchema = z.strictObject({
  role: z.enum(['user', 'assistant']),
  content: text(HARD_MAX_CHARS),
});

/**
 * A chat body. `maxTokens` has one cap, the configured `chat.maxTokensLimit`: the handlers build the schema with it;
 * without it (the route table's description of the shape) the field is any positive integer.
 */
export function chatRequestSchemaWith(maxTokensLimit?: number) {
  // The cap comes before `int()`, so a huge number is told the configured cap, not the safe-integer range.
  const cap = maxTokensLimit === undefined ? [] : [z.lte(maxTokensLimit)];
  return z.strictObject({
    message: text(HARD_MAX_CHARS),
    history: z.optional(z.array(chatMessageSchema).check(z.maxLength(500))),
    system: z.optional(text(HARD_MAX_CHARS)),
    maxTokens: z.optional(z.number().check(...cap, z.int(), z.gte(1))),
  });
}

export const chatRequestSchema = chatRequestSchemaWith();
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/**
 * Deepest nesting of objects and arrays in a report's `metadata` (the metadata object itself is the first level).
 * Checked without recursion before anything recursive (size, hashing, storing) sees the value.
 */
export const METADATA_MAX_DEPTH = 32;

/**
 * `metadata` is any JSON object, checked here only at its top level (`z.unknown()` values: zod does not walk into it).
 * Zod rebuilds the record by assignment, which would turn a `"__proto__"` key into a prototype and drop it, so the
 * handler keeps the object as `JSON.parse` made it (see lambda/core/reports/api.ts).
 */
export const submitReportRequestSchema = z.strictObject({
  prompt: text(HARD_MAX_CHARS),
  callbackUrl: z.optional(z.string().check(z.maxLength(2048))),
  metadata: z.optional(z.record(z.string(), z.unknown())),
});
export type SubmitReportRequest = z.infer<typeof submitReportRequestSchema>;

/** The ratings of `POST /feedback`, and the values of the `rating` dimension of the `Feedback` metric. */
export const RATINGS = ['up', 'down'] as const;

/** Longest `comment` of a feedback, in characters. */
export const FEEDBACK_COMMENT_MAX_CHARS = 2_000;

/** Longest id `POST /feedback` accepts; the ids the API hands out are far shorter. */
export const FEEDBACK_REQUEST_ID_MAX_CHARS = 128;

/**
 * `POST /feedback`: a rating of one of the caller's own requests. `requestId` is what the answer named: `requestId` of
 * `/chat/stream` (`start`) and `/chat`, the `x-request-id` header of any answer, a report's `reportId`, or an OpenAI
 * completion's `id` (`chatcmpl-<requestId>`).
 */
export const feedbackRequestSchema = z.strictObject({
  requestId: text(FEEDBACK_REQUEST_ID_MAX_CHARS).check(
    z.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be a request id (letters, digits, ".", "_", ":", "-")'),
  ),
  rating: z.enum(RATINGS),
  comment: z.optional(z.string().check(z.maxLength(FEEDBACK_COMMENT_MAX_CHARS))),
});
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;
export type Rating = (typeof RATINGS)[number];
