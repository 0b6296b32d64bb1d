/**
 * `POST /chat/completions` bodies, translated to the chat core's {@link ModelRequest}. Fields OpenAI documents and we
 * honour are checked as OpenAI checks them; fields we cannot honour (`n` > 1, `logprobs`, audio, remote image URLs) are
 * refused with a 400 naming the parameter, rather than silently answered differently; any other field is
 * ignored, as OpenAI ignores fields it does not know.
 */
import type { AppConfig } from '../../../config/schema';
import { modelChainFor } from '../../../config/models';
import type { ModelRequest } from '../model';
import { parseJsonBody } from '../validation';
import { ModelNotFoundError, OpenAIParamError } from './errors';
import { conversation } from './messages';
import { given, invalidType, invalidValue, isObject, type Json, missing, unsupported } from './params';
import { toolConfig } from './tools';

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
  const format = body.response_format;
  if (given(body, 'response_format') && !(isObject(format) && format.type === 'text'))
    throw unsupported('response_format', 'only the text response format is supported.');
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
  if (!given(body, 'model')) throw missing('model');
  if (typeof body.model !== 'string') throw invalidType('model', 'a string', body.model);
  if (!given(body, 'messages')) throw missing('messages');
  refuseUnhonourable(body);
  const { system, turns, usesTools } = conversation(body.messages, config);
  const { tools, toolChoice } = toolConfig(body);
  // Converse refuses tool calls and results in a conversation that offers no tools.
  if (usesTools && !tools)
    throw invalidValue(
      'tools',
      "a conversation with tool calls needs the tools it used in 'tools', and a 'tool_choice' other than \"none\".",
    );
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
    tools,
    toolChoice,
  };
  // The model is resolved last: a malformed request is a 400 whatever model it names.
  const models = modelChainFor(config, body.model);
  if (!models) throw new ModelNotFoundError(body.model);
  return { model: body.model, models, request, stream, includeUsage, user };
}
