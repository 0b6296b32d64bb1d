/**
 * `POST /chat/completions` bodies, translated to the chat core's {@link ModelRequest}. Fields OpenAI documents and we
 * honour are checked as OpenAI checks them; fields we cannot honour (`n` > 1, `logprobs`, audio, and for now tools and
 * images) are refused with a 400 naming the parameter, rather than silently answered differently; any other field is
 * ignored, as OpenAI ignores fields it does not know.
 */
import type { AppConfig } from '../../../config/schema';
import { modelChainFor } from '../../../config/schema';
import type { ChatTurn, ModelRequest } from '../model';
import { parseJsonBody } from '../validation';
import { ModelNotFoundError, OpenAIParamError } from './errors';

export interface OpenAIChatRequest {
  /** The model name the client asked for (an id or an alias). */
  model: string;
  /** The models the call may use, in order. */
  models: string[];
  request: ModelRequest;
  stream: boolean;
  /** Stream only: end with a chunk carrying `usage` and no choices. */
  includeUsage: boolean;
  /** The client's end-user id: logged, never sent to the model. */
  user?: string;
}

/** OpenAI's limit on `stop` sequences. */
const MAX_STOP_SEQUENCES = 4;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

const invalidType = (param: string, expected: string, value: unknown) =>
  new OpenAIParamError(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    'invalid_type',
  );
const invalidValue = (param: string, message: string) =>
  new OpenAIParamError(`Invalid value for '${param}': ${message}`, param, 'invalid_value');
const unsupported = (param: string, message: string) =>
  new OpenAIParamError(`Unsupported parameter: '${param}': ${message}`, param, 'unsupported_parameter');
const notYet = (param: string, what: string) =>
  unsupported(param, `${what} are not supported yet by this API; send text only.`);

/** A field that OpenAI lets clients send as `null` for "unset". */
const given = (body: Json, key: string) => body[key] !== undefined && body[key] !== null;

function optionalNumber(body: Json, key: string, min: number, max: number): number | undefined {
  if (!given(body, key)) return undefined;
  const value = body[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidType(key, 'a decimal', value);
  if (value < min || value > max) throw invalidValue(key, `must be between ${min} and ${max}, got ${value}.`);
  return value;
}

function optionalBoolean(body: Json, key: string): boolean | undefined {
  if (!given(body, key)) return undefined;
  if (typeof body[key] !== 'boolean') throw invalidType(key, 'a boolean', body[key]);
  return body[key] as boolean;
}

function maxTokens(body: Json, config: AppConfig): number {
  // `max_tokens` is deprecated in favour of `max_completion_tokens`; both mean the same here.
  const key = given(body, 'max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  if (!given(body, key)) return config.chat.defaultMaxTokens;
  const value = body[key];
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(key, 'an integer', value);
  const limit = config.chat.maxTokensLimit;
  if (value < 1 || value > limit) throw invalidValue(key, `must be between 1 and ${limit}, got ${value}.`);
  return value;
}

function stopSequences(body: Json): string[] | undefined {
  if (!given(body, 'stop')) return undefined;
  const stop = body.stop;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string'))
    throw invalidType('stop', 'a string or an array of strings', stop);
  if (list.length > MAX_STOP_SEQUENCES)
    throw invalidValue('stop', `at most ${MAX_STOP_SEQUENCES} sequences, got ${list.length}.`);
  if (list.some((s) => s === '')) throw invalidValue('stop', 'sequences must not be empty.');
  return list.length ? (list as string[]) : undefined;
}

/** Refuses the fields whose meaning we cannot deliver, so a client never gets an answer it did not ask for. */
function refuseUnhonourable(body: Json): void {
  if (given(body, 'n') && body.n !== 1) throw unsupported('n', 'only one choice per request is supported (n = 1).');
  if (body.logprobs === true) throw unsupported('logprobs', 'log probabilities are not available from these models.');
  if (given(body, 'top_logprobs'))
    throw unsupported('top_logprobs', 'log probabilities are not available from these models.');
  if (given(body, 'audio')) throw unsupported('audio', 'audio output is not supported.');
  if (Array.isArray(body.modalities) && body.modalities.some((m) => m !== 'text'))
    throw unsupported('modalities', 'only text output is supported.');
  if (Array.isArray(body.tools) ? body.tools.length > 0 : given(body, 'tools')) throw notYet('tools', 'tools');
  if (given(body, 'tool_choice') && body.tool_choice !== 'none') throw notYet('tool_choice', 'tools');
  if (given(body, 'functions')) throw notYet('functions', 'functions');
  if (given(body, 'function_call') && body.function_call !== 'none') throw notYet('function_call', 'functions');
  const format = body.response_format;
  if (given(body, 'response_format') && !(isObject(format) && format.type === 'text'))
    throw unsupported('response_format', 'only the text response format is supported.');
}

/** The text of a message's `content`: a string, or an array of text parts (joined). */
function contentText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidType(param, 'a string or an array of content parts', content);
  return content
    .map((part, j) => {
      const at = `${param}[${j}]`;
      if (!isObject(part)) throw invalidType(at, 'an object', part);
      if (part.type === 'text') {
        if (typeof part.text !== 'string') throw invalidType(`${at}.text`, 'a string', part.text);
        return part.text;
      }
      if (part.type === 'image_url') throw notYet(at, 'image parts');
      if (part.type === 'input_audio') throw unsupported(at, 'audio input is not supported.');
      if (part.type === 'file') throw unsupported(at, 'file input is not supported.');
      throw invalidValue(`${at}.type`, `unknown content part type ${JSON.stringify(part.type)}.`);
    })
    .join('');
}

interface Conversation {
  system?: string;
  turns: ChatTurn[];
}

/**
 * OpenAI messages as a Converse conversation: `system` and `developer` messages become the system prompt (Converse
 * keeps instructions apart from the turns); consecutive messages of one role become one turn, because Converse
 * requires turns to alternate.
 */
function conversation(messages: unknown, config: AppConfig): Conversation {
  if (!Array.isArray(messages)) throw invalidType('messages', 'an array', messages);
  if (messages.length === 0) throw invalidValue('messages', 'at least one message is required.');
  const limits = config.chat;
  const system: string[] = [];
  const turns: ChatTurn[] = [];
  let total = 0;
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (!isObject(message)) throw invalidType(at, 'an object', message);
    const role = message.role;
    if (role === 'tool') throw notYet(`${at}.role`, 'tool results');
    if (role === 'function') throw notYet(`${at}.role`, 'function results');
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant')
      throw invalidValue(
        `${at}.role`,
        `must be one of "system", "developer", "user", "assistant"; got ${JSON.stringify(role)}.`,
      );
    if (role === 'assistant' && Array.isArray(message.tool_calls) && message.tool_calls.length > 0)
      throw notYet(`${at}.tool_calls`, 'tool calls');
    if (role === 'assistant' && given(message, 'audio')) throw unsupported(`${at}.audio`, 'audio is not supported.');
    const text =
      role === 'assistant' && (message.content === null || message.content === undefined)
        ? ''
        : contentText(message.content, `${at}.content`);
    if (text.length > limits.maxMessageChars)
      throw invalidValue(`${at}.content`, `must be at most ${limits.maxMessageChars} characters.`);
    total += text.length;
    if (role === 'system' || role === 'developer') {
      system.push(text);
      return;
    }
    const last = turns[turns.length - 1];
    if (last?.role === role) last.content += `\n\n${text}`;
    else turns.push({ role, content: text });
  });
  if (total > limits.maxTotalChars)
    throw invalidValue('messages', `all messages together must be at most ${limits.maxTotalChars} characters.`);
  if (turns.length === 0) throw invalidValue('messages', 'at least one user message is required.');
  if (turns[0]?.role !== 'user') throw invalidValue('messages', 'the conversation must start with a user message.');
  if (turns.length > limits.maxHistoryMessages + 1)
    throw invalidValue('messages', `at most ${limits.maxHistoryMessages + 1} user and assistant turns.`);
  return { system: system.length ? system.join('\n\n') : undefined, turns };
}

/** Validates a `POST /chat/completions` body and translates it for the chat core. */
export function parseOpenAIChatRequest(
  raw: string | null | undefined,
  config: AppConfig,
  isBase64Encoded = false,
): OpenAIChatRequest {
  let body: Json;
  try {
    body = parseJsonBody(raw, isBase64Encoded) as Json;
  } catch (err) {
    throw new OpenAIParamError(
      'We could not parse the JSON body of your request. The body must be a JSON object.',
      null,
      (err as Error).message.includes('valid JSON') ? 'invalid_json' : null,
    );
  }
  if (!given(body, 'model'))
    throw new OpenAIParamError("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  if (typeof body.model !== 'string') throw invalidType('model', 'a string', body.model);
  if (!given(body, 'messages'))
    throw new OpenAIParamError("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  refuseUnhonourable(body);
  const { system, turns } = conversation(body.messages, config);
  const stream = optionalBoolean(body, 'stream') ?? false;
  let includeUsage = false;
  if (given(body, 'stream_options')) {
    if (!stream)
      throw invalidValue('stream_options', "the 'stream_options' parameter is only allowed when 'stream' is enabled.");
    if (!isObject(body.stream_options)) throw invalidType('stream_options', 'an object', body.stream_options);
    includeUsage = optionalBoolean(body.stream_options, 'include_usage') ?? false;
  }
  let user: string | undefined;
  if (given(body, 'user')) {
    if (typeof body.user !== 'string') throw invalidType('user', 'a string', body.user);
    user = body.user.slice(0, 256);
  }
  const request: ModelRequest = {
    messages: turns,
    system,
    maxTokens: maxTokens(body, config),
    temperature: optionalNumber(body, 'temperature', 0, 2),
    topP: optionalNumber(body, 'top_p', 0, 1),
    stopSequences: stopSequences(body),
  };
  // The model is resolved last: a malformed request is a 400 whatever model it names.
  const models = modelChainFor(config, body.model);
  if (!models) throw new ModelNotFoundError(body.model);
  return { model: body.model, models, request, stream, includeUsage, user };
}
