/**
 * The OpenAI-compatible contract as zod schemas: the `POST /chat/completions` body this API accepts, and the
 * `chat.completion`, `chat.completion.chunk`, model list and error objects it answers. The OpenAPI description
 * (`openapi/`, `docs/openapi.json`) is generated from them; `response.ts` and `errors.ts` type the objects they build
 * with them; the tests check the request schema against `parseOpenAIChatRequest` and every real answer against the
 * generated description.
 *
 * The request is parsed by `request.ts`, not by this schema: OpenAI's clients expect its error wording, with the field
 * at fault in `param`. The schema describes the same shape: fields OpenAI lets clients send as `null` for "unset" are
 * nullable, fields this API cannot honour are only accepted as their harmless values, and objects are open, because
 * OpenAI ignores fields it does not know. Rules across fields (turn order, tool calls answered by tool messages, the
 * configured size limits) are the handler's and are described in words.
 */
import { z } from 'zod';
import { DATA_URL, TOOL_CALL_ID } from './messages';
import { TOOL_NAME } from './params';

/** Optional, and `null` means unset: how OpenAI treats its optional parameters. */
const unset = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

const toolName = z.string().regex(TOOL_NAME).describe("The tool's name: 1 to 64 of a-z, A-Z, 0-9, `_` and `-`.");

export const textPartSchema = z.looseObject({ type: z.literal('text'), text: z.string() }).describe('A text part.');

export const imagePartSchema = z
  .looseObject({
    type: z.literal('image_url'),
    image_url: z
      .looseObject({
        url: z
          .string()
          .regex(DATA_URL)
          .describe(
            'The image as a base64 `data:` URL (png, jpeg, gif or webp, at most 3.75 MB). Remote URLs are refused: ' +
              "the API fetches nothing on a client's behalf. `detail` is ignored.",
          ),
      })
      .describe('The image.'),
  })
  .describe('An image part (user messages only).');

export const textContentSchema = z
  .union([z.string(), z.array(textPartSchema)])
  .describe('Text, as a string or an array of text parts.');

export const messageToolCallSchema = z
  .looseObject({
    id: z.string().regex(TOOL_CALL_ID).describe('The call id the answering `tool` message names.'),
    type: z.literal('function'),
    function: z.looseObject({
      name: toolName,
      arguments: z.string().describe('The arguments as JSON text of an object.'),
    }),
  })
  .describe('A tool call the model made, replayed in the conversation.');

export const systemMessageSchema = z
  .looseObject({ role: z.enum(['system', 'developer']), content: textContentSchema })
  .describe('Instructions: every `system` and `developer` message becomes the system prompt.');

export const userMessageSchema = z
  .looseObject({
    role: z.literal('user'),
    content: z.union([z.string(), z.array(z.union([textPartSchema, imagePartSchema]))]),
  })
  .describe('A user turn: text, and images as `data:` URLs.');

export const assistantMessageSchema = z
  .looseObject({
    role: z.literal('assistant'),
    content: unset(textContentSchema),
    tool_calls: unset(z.array(messageToolCallSchema)),
    audio: z.null().optional().describe('Refused unless null: audio is not supported.'),
  })
  .describe('An earlier answer, with the tool calls it made.');

export const toolMessageSchema = z
  .looseObject({
    role: z.literal('tool'),
    tool_call_id: z.string().describe('The id of the tool call of the assistant message before that this answers.'),
    content: textContentSchema,
  })
  .describe('The result of a tool call.');

export const functionToolSchema = z
  .looseObject({
    type: z.literal('function'),
    function: z.looseObject({
      name: toolName,
      description: unset(z.string()),
      parameters: unset(z.record(z.string(), z.unknown())).describe(
        'The arguments as a JSON Schema object; omitted: the function takes none.',
      ),
    }),
  })
  .describe('A function the model may call.');

const toolChoice = z
  .union([
    z.enum(['none', 'auto', 'required']),
    z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
  ])
  .describe('`auto` (the default), `required` (call at least one tool), `none` (no tools are sent), or one function.');

export const chatCompletionRequestSchema = z
  .looseObject({
    model: z.string().describe('A configured model id or a `models.aliases` name (`GET /models` lists them).'),
    messages: z
      .array(z.union([systemMessageSchema, userMessageSchema, assistantMessageSchema, toolMessageSchema]))
      .min(1)
      .describe(
        'The conversation. It must start with a user message (after any instructions); consecutive messages of one ' +
          'role are joined, and every tool call must be answered by a `tool` message before the next message.',
      ),
    max_completion_tokens: unset(z.int().min(1)).describe('At most `chat.maxTokensLimit`.'),
    max_tokens: unset(z.int().min(1)).describe('Deprecated spelling of `max_completion_tokens`.'),
    temperature: unset(z.number().min(0).max(2)).describe('Passed to the model as given.'),
    top_p: unset(z.number().min(0).max(1)),
    stop: unset(z.union([z.string().min(1), z.array(z.string().min(1)).max(4)])).describe('Up to 4 stop sequences.'),
    stream: unset(z.boolean()).describe('`true`: the answer as `chat.completion.chunk` events, then `[DONE]`.'),
    stream_options: unset(z.looseObject({ include_usage: unset(z.boolean()) })).describe(
      'Only with `stream: true`. `include_usage`: a last chunk with `usage` and no choices.',
    ),
    tools: unset(z.array(functionToolSchema).min(1)).describe('Function tools; names must be unique.'),
    tool_choice: unset(toolChoice),
    user: unset(z.string()).describe("The client's end-user id: logged, never sent to the model."),
    n: unset(z.literal(1)).describe('Only one choice per request.'),
    logprobs: unset(z.literal(false)).describe('Log probabilities are not available.'),
    top_logprobs: z.null().optional().describe('Refused unless null: log probabilities are not available.'),
    audio: z.null().optional().describe('Refused unless null: audio output is not supported.'),
    modalities: unset(z.array(z.literal('text'))).describe('Only text output.'),
    response_format: unset(z.looseObject({ type: z.literal('text') })).describe('Only the text format.'),
    functions: z.null().optional().describe("Refused unless null: deprecated, send 'tools'."),
    function_call: unset(z.literal('none')).describe("Deprecated: use 'tool_choice'."),
    parallel_tool_calls: unset(z.boolean()).describe('Ignored: the model may call several tools in one answer.'),
  })
  .describe(
    'A chat completion request. Fields not listed here are ignored, as OpenAI ignores fields it does not know.',
  );

export const openAIUsageSchema = z
  .object({
    prompt_tokens: z
      .int()
      .nonnegative()
      .describe('Input tokens, those read from or written to the prompt cache included (as OpenAI counts them).'),
    completion_tokens: z.int().nonnegative(),
    total_tokens: z.int().nonnegative(),
    prompt_tokens_details: z
      .object({
        cached_tokens: z.int().nonnegative().describe('Of `prompt_tokens`, those read from the prompt cache.'),
      })
      .describe('Breakdown of `prompt_tokens`.'),
  })
  .describe('Token usage of the call.');

export const finishReasonSchema = z
  .enum(['stop', 'length', 'tool_calls', 'content_filter'])
  .describe("Why the answer ended, from the model's stop reason.");

const completionFields = {
  id: z.string().describe('`chatcmpl-<request id>`, the same in every chunk of a stream.'),
  created: z.int().nonnegative().describe('Unix seconds when the request arrived.'),
  model: z.string().describe('The model that is answering (after a fallback, the fallback).'),
};

export const chatCompletionSchema = z
  .object({
    ...completionFields,
    object: z.literal('chat.completion'),
    choices: z.array(
      z.object({
        index: z.int().nonnegative(),
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().nullable().describe('The answer; `null` when the model only called tools.'),
          refusal: z.null(),
          tool_calls: z
            .array(
              z.object({
                id: z.string(),
                type: z.literal('function'),
                function: z.object({ name: z.string(), arguments: z.string().describe('JSON text of an object.') }),
              }),
            )
            .optional(),
        }),
        logprobs: z.null(),
        finish_reason: finishReasonSchema,
      }),
    ),
    usage: openAIUsageSchema,
  })
  .describe('A whole answer (`stream` unset or false).');

export const chunkToolCallSchema = z
  .object({
    index: z.int().nonnegative().describe('Tells the calls of one answer apart.'),
    id: z.string().optional().describe('In the first fragment of a call.'),
    type: z.literal('function').optional().describe('In the first fragment of a call.'),
    function: z.object({
      name: z.string().optional().describe('In the first fragment of a call.'),
      arguments: z.string().describe('The next fragment of the JSON arguments.'),
    }),
  })
  .describe('A fragment of a streamed tool call.');

export const chunkDeltaSchema = z
  .object({
    role: z.literal('assistant').optional().describe('In the first chunk.'),
    content: z.string().optional(),
    tool_calls: z.array(chunkToolCallSchema).optional(),
  })
  .describe('What this chunk adds to the answer.');

export const chatCompletionChunkSchema = z
  .object({
    ...completionFields,
    object: z.literal('chat.completion.chunk'),
    choices: z
      .array(
        z.object({
          index: z.int().nonnegative(),
          delta: chunkDeltaSchema,
          logprobs: z.null(),
          finish_reason: finishReasonSchema.nullable(),
        }),
      )
      .describe('One choice; empty in the usage chunk.'),
    usage: openAIUsageSchema
      .nullable()
      .optional()
      .describe('With `include_usage`: `null` in every chunk but the last, which has the usage and no choices.'),
  })
  .describe('One event of a streamed answer (`stream: true`).');

export const modelEntrySchema = z.object({
  id: z.string().describe('A configured model id or alias: a valid `model` for `POST /chat/completions`.'),
  object: z.literal('model'),
  created: z.int().nonnegative().describe('Always 0: not known for Bedrock models.'),
  owned_by: z.string().describe('The provider, from the Bedrock id (`us.anthropic.…` → `anthropic`).'),
});

export const modelListSchema = z
  .object({ object: z.literal('list'), data: z.array(modelEntrySchema) })
  .describe('The configured model ids, then the aliases.');

export const openAIErrorBodySchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe('`invalid_request_error`, `tokens` or `server_error`.'),
      param: z.string().nullable().describe('The request field at fault (`messages[1].content[0]`), if any.'),
      code: z
        .string()
        .nullable()
        .describe(
          '`invalid_type`, `invalid_value`, `missing_required_parameter`, `unsupported_parameter`, `invalid_json`, ' +
            '`invalid_api_key`, `model_not_found`, `rate_limit_exceeded`, `model_unavailable`, ' +
            '`service_unavailable`, `timeout`, `model_error`, or null.',
        ),
    }),
  })
  .describe("An error, in OpenAI's shape, so the OpenAI SDKs raise their own error classes.");

export type ChatCompletion = z.infer<typeof chatCompletionSchema>;
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;
export type ModelList = z.infer<typeof modelListSchema>;
export type OpenAIErrorBodyShape = z.infer<typeof openAIErrorBodySchema>;
