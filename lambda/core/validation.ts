/**
 * Request parsing. Every failure is a {@link ValidationError} whose message names the offending field, so a client
 * can fix its request without reading our code. Nothing here throws anything else.
 */
import * as z from 'zod/mini';
import { describeIssues, problemOf } from '../../config/zod-issues';
import type { AppConfig } from '../../config/schema';
import { chatRequestSchemaWith, type ChatRequest } from '../../config/contract';
import { ValidationError } from './errors';
import type { ModelRequest } from './model';

/** Parses a JSON body; an absent, non-JSON or non-object body is a 400 naming the body. */
export function parseJsonBody(body: string | null | undefined, isBase64Encoded = false): unknown {
  if (body === null || body === undefined || body === '') throw new ValidationError('body: a JSON object is required');
  let text = body;
  if (isBase64Encoded) text = Buffer.from(body, 'base64').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('body: is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('body: must be a JSON object');
  }
  return value;
}

/** Parses a value with a contract schema (zod or zod/mini); a mismatch is a 400 naming the fields at fault. */
export function parseWith<T>(schema: z.core.$ZodType<T>, value: unknown): T {
  const result = z.safeParse(schema, value, { error: problemOf });
  if (!result.success) throw new ValidationError(describeIssues(result.error));
  return result.data;
}

/** The chat schema with the configured `maxTokens` cap, built once per cap. */
const chatSchemas = new Map<number, ReturnType<typeof chatRequestSchemaWith>>();
function chatSchemaFor(maxTokensLimit: number) {
  let schema = chatSchemas.get(maxTokensLimit);
  if (!schema) chatSchemas.set(maxTokensLimit, (schema = chatRequestSchemaWith(maxTokensLimit)));
  return schema;
}

/** Validates a chat request against the contract and the configured limits, and turns it into a model request. */
export function parseChatRequest(
  body: string | null | undefined,
  config: AppConfig,
  isBase64Encoded = false,
): ModelRequest {
  const limits = config.chat;
  const request: ChatRequest = parseWith(chatSchemaFor(limits.maxTokensLimit), parseJsonBody(body, isBase64Encoded));
  const tooLong = (field: string, value: string | undefined) => {
    if (value !== undefined && value.length > limits.maxMessageChars) {
      throw new ValidationError(`${field}: must be at most ${limits.maxMessageChars} characters`);
    }
  };
  tooLong('message', request.message);
  tooLong('system', request.system);
  const history = request.history ?? [];
  if (history.length > limits.maxHistoryMessages) {
    throw new ValidationError(`history: at most ${limits.maxHistoryMessages} messages`);
  }
  for (const [i, turn] of history.entries()) tooLong(`history.${i}.content`, turn.content);
  // Bedrock requires the conversation to alternate, starting with the user, before our new user message.
  history.forEach((turn, i) => {
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (turn.role !== expected) {
      throw new ValidationError(`history.${i}.role: must be "${expected}" (turns alternate, starting with "user")`);
    }
  });
  if (history.length % 2 !== 0) {
    throw new ValidationError('history: must end with an "assistant" turn (the new message is the next user turn)');
  }
  const total =
    request.message.length + (request.system?.length ?? 0) + history.reduce((n, t) => n + t.content.length, 0);
  if (total > limits.maxTotalChars) {
    throw new ValidationError(
      `body: message, system and history together must be at most ${limits.maxTotalChars} characters`,
    );
  }
  return {
    messages: [...history, { role: 'user', content: request.message }],
    system: request.system,
    maxTokens: request.maxTokens ?? limits.defaultMaxTokens,
  };
}
