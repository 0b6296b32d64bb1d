/**
 * Request bodies of the client contract (README.md), as zod schemas. The handlers parse with them; the stack turns them
 * into API Gateway JSON-schema models (draft-04) so malformed bodies are rejected before a function runs.
 *
 * Size limits here are the hard ceiling; the configured limits (`chat.maxMessageChars`, …) are checked by the handlers.
 */
import { z } from 'zod';

export const HARD_MAX_CHARS = 200_000;

export const chatMessageSchema = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.string().min(1, 'must not be empty').max(HARD_MAX_CHARS),
  })
  .strict();

/**
 * A chat body. `maxTokens` has one cap, the configured `chat.maxTokensLimit`: the handlers build the schema with it;
 * without it (the route table's description of the shape) the field is any positive integer.
 */
export function chatRequestSchemaWith(maxTokensLimit?: number) {
  // The cap comes before `int()`, so a huge number is told the configured cap, not the safe-integer range.
  const maxTokens = maxTokensLimit === undefined ? z.number() : z.number().max(maxTokensLimit);
  return z
    .object({
      message: z.string().min(1, 'must not be empty').max(HARD_MAX_CHARS),
      history: z.array(chatMessageSchema).max(500).optional(),
      system: z.string().min(1, 'must not be empty').max(HARD_MAX_CHARS).optional(),
      maxTokens: maxTokens.int().min(1).optional(),
    })
    .strict();
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
export const submitReportRequestSchema = z
  .object({
    prompt: z.string().min(1, 'must not be empty').max(HARD_MAX_CHARS),
    callbackUrl: z.string().max(2048).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
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
export const feedbackRequestSchema = z
  .object({
    requestId: z
      .string()
      .min(1, 'must not be empty')
      .max(FEEDBACK_REQUEST_ID_MAX_CHARS)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be a request id (letters, digits, ".", "_", ":", "-")'),
    rating: z.enum(RATINGS),
    comment: z.string().max(FEEDBACK_COMMENT_MAX_CHARS).optional(),
  })
  .strict();
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;
export type Rating = (typeof RATINGS)[number];
