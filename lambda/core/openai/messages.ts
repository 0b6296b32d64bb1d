/**
 * OpenAI `messages` as a Converse conversation: text (a string or parts), image parts given as `data:` URLs, assistant
 * `tool_calls` and `tool` results, checked as OpenAI checks them and shaped as Converse requires (turns alternate,
 * starting with the user; tool results answer the calls of the assistant turn just before them).
 */
import type { AppConfig } from '../../../config/schema';
import type { ChatTurn, ContentBlock, ImageFormat } from '../model';
import {
  given,
  invalidType,
  invalidValue,
  isObject,
  type Json,
  MAX_JSON_DEPTH,
  missing,
  nestedDeeperThan,
  TOOL_NAME,
  unsupported,
} from './params';

export interface Conversation {
  system?: string;
  turns: ChatTurn[];
  /** Whether any turn carries a tool call or a tool result (Converse then needs the tools offered). */
  usesTools: boolean;
}

/** An image as Converse takes it: base64 of one of its formats, in a `data:` URL. */
export const DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]*={0,2})$/;
/** Converse's limit for one image sent as bytes: 3.75 MB. */
const MAX_IMAGE_BYTES = 3.75 * 1024 * 1024;
/** Tool call ids as Converse accepts them for `toolUseId` (OpenAI's `call_…` ids fit). */
export const TOOL_CALL_ID = /^[a-zA-Z0-9_-]{1,64}$/;

function imageBlock(part: Json, at: string): ContentBlock {
  const param = `${at}.image_url`;
  const image = part.image_url;
  if (!isObject(image)) throw invalidType(param, 'an object', image);
  if (typeof image.url !== 'string') throw invalidType(`${param}.url`, 'a string', image.url);
  const match = DATA_URL.exec(image.url);
  if (!match) {
    if (/^https?:/i.test(image.url))
      throw unsupported(param, 'remote image URLs are not fetched; send the image as a base64 data: URL.');
    throw invalidValue(param, 'expected a data:image/(png|jpeg|gif|webp);base64,… URL.');
  }
  const [, format, data = ''] = match;
  if (data.length === 0 || data.length % 4 !== 0) throw invalidValue(param, 'the base64 image data is malformed.');
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > MAX_IMAGE_BYTES) throw invalidValue(param, 'an image may be at most 3.75 MB.');
  return { type: 'image', format: format as ImageFormat, bytes };
}

/** A message's `content` as blocks: a string, or an array of parts (images only where `images` allows them). */
function contentBlocks(content: unknown, param: string, images: boolean): ContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalidType(param, 'a string or an array of content parts', content);
  return content.map((part, j): ContentBlock => {
    const at = `${param}[${j}]`;
    if (!isObject(part)) throw invalidType(at, 'an object', part);
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw invalidType(`${at}.text`, 'a string', part.text);
      return { type: 'text', text: part.text };
    }
    if (part.type === 'image_url') {
      if (!images) throw invalidValue(`${at}.type`, 'image parts are only allowed in user messages.');
      return imageBlock(part, at);
    }
    if (part.type === 'input_audio') throw unsupported(at, 'audio input is not supported.');
    if (part.type === 'file') throw unsupported(at, 'file input is not supported.');
    throw invalidValue(`${at}.type`, `unknown content part type ${JSON.stringify(part.type)}.`);
  });
}

/** The text of content that may only be text (system, developer and tool messages): parts are joined. */
function textOf(blocks: ContentBlock[]): string {
  return blocks.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

function toolUseBlocks(calls: unknown, at: string): ContentBlock[] {
  if (!Array.isArray(calls)) throw invalidType(at, 'an array', calls);
  return calls.map((call, k): ContentBlock => {
    const param = `${at}[${k}]`;
    if (!isObject(call)) throw invalidType(param, 'an object', call);
    if (call.type !== 'function')
      throw unsupported(`${param}.type`, `only function tool calls are supported, got ${JSON.stringify(call.type)}.`);
    if (typeof call.id !== 'string') throw invalidType(`${param}.id`, 'a string', call.id);
    if (!TOOL_CALL_ID.test(call.id))
      throw invalidValue(`${param}.id`, "must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'.");
    const fn = call.function;
    if (!isObject(fn)) throw invalidType(`${param}.function`, 'an object', fn);
    if (typeof fn.name !== 'string') throw invalidType(`${param}.function.name`, 'a string', fn.name);
    if (!TOOL_NAME.test(fn.name))
      throw invalidValue(`${param}.function.name`, "must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'.");
    if (typeof fn.arguments !== 'string') throw invalidType(`${param}.function.arguments`, 'a string', fn.arguments);
    let input: unknown;
    try {
      input = JSON.parse(fn.arguments || '{}');
    } catch {
      input = undefined;
    }
    if (!isObject(input)) throw invalidValue(`${param}.function.arguments`, 'must be a JSON object.');
    if (nestedDeeperThan(input, MAX_JSON_DEPTH))
      throw invalidValue(`${param}.function.arguments`, `must nest at most ${MAX_JSON_DEPTH} levels deep.`);
    return { type: 'toolUse', toolUseId: call.id, name: fn.name, input };
  });
}

/** Characters of a block that count against the size limits (images are bounded by their own limit instead). */
function charsOf(block: ContentBlock): number {
  if (block.type === 'text' || block.type === 'toolResult') return block.text.length;
  if (block.type === 'toolUse') return block.name.length + JSON.stringify(block.input).length;
  return 0;
}

/** A turn being built: tool results apart, because Converse wants them before anything else the user says. */
interface Draft {
  role: 'user' | 'assistant';
  results: ContentBlock[];
  blocks: ContentBlock[][];
}

/**
 * A turn's content: plain text when it is text only (consecutive messages of one role joined by a blank line, as
 * before), otherwise blocks, without empty text (Converse refuses blank text blocks).
 */
function contentOf(draft: Draft): ChatTurn['content'] {
  const messages = draft.blocks;
  if (draft.results.length === 0 && messages.every((m) => m.every((b) => b.type === 'text')))
    return messages.map(textOf).join('\n\n');
  return [...draft.results, ...messages.flat().filter((b) => b.type !== 'text' || b.text.trim() !== '')];
}

/**
 * `system` and `developer` messages become the system prompt (Converse keeps instructions apart from the turns);
 * consecutive messages of one role, and `tool` results with the user message after them, become one turn.
 */
export function conversation(messages: unknown, config: AppConfig): Conversation {
  if (!Array.isArray(messages)) throw invalidType('messages', 'an array', messages);
  if (messages.length === 0) throw invalidValue('messages', 'at least one message is required.');
  const limits = config.chat;
  const system: string[] = [];
  const drafts: Draft[] = [];
  let total = 0;
  let usesTools = false;
  /** Tool calls of the last assistant turn not answered yet: each must get its `tool` message before anything else. */
  let open = new Set<string>();
  const turn = (role: Draft['role']): Draft => {
    const last = drafts[drafts.length - 1];
    if (last?.role === role) return last;
    const draft: Draft = { role, results: [], blocks: [] };
    drafts.push(draft);
    return draft;
  };
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (!isObject(message)) throw invalidType(at, 'an object', message);
    const role = message.role;
    if (role === 'function') throw unsupported(`${at}.role`, "function messages are deprecated; send 'tool' messages.");
    if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(role as string))
      throw invalidValue(
        `${at}.role`,
        `must be one of "system", "developer", "user", "assistant", "tool"; got ${JSON.stringify(role)}.`,
      );
    if (role !== 'tool' && open.size > 0)
      throw invalidValue(
        at,
        `the tool calls ${[...open].join(', ')} of the assistant message before must each be answered by a 'tool' message first.`,
      );
    let blocks: ContentBlock[];
    if (role === 'tool') {
      if (!given(message, 'tool_call_id')) throw missing(`${at}.tool_call_id`);
      const id = message.tool_call_id;
      if (typeof id !== 'string') throw invalidType(`${at}.tool_call_id`, 'a string', id);
      if (!open.delete(id))
        throw invalidValue(
          `${at}.tool_call_id`,
          `${JSON.stringify(id)} answers no tool call of the assistant message before.`,
        );
      const text = textOf(contentBlocks(message.content, `${at}.content`, false));
      blocks = [{ type: 'toolResult', toolUseId: id, text }];
      turn('user').results.push(...blocks);
      usesTools = true;
    } else if (role === 'assistant') {
      if (given(message, 'audio')) throw unsupported(`${at}.audio`, 'audio is not supported.');
      blocks = given(message, 'content') ? contentBlocks(message.content, `${at}.content`, false) : [];
      if (given(message, 'tool_calls')) {
        const calls = toolUseBlocks(message.tool_calls, `${at}.tool_calls`);
        open = new Set(calls.map((c) => (c.type === 'toolUse' ? c.toolUseId : '')));
        if (open.size < calls.length) throw invalidValue(`${at}.tool_calls`, 'tool call ids must be unique.');
        usesTools ||= calls.length > 0;
        blocks.push(...calls);
      }
      turn('assistant').blocks.push(blocks);
    } else {
      blocks = contentBlocks(message.content, `${at}.content`, role === 'user');
      if (role === 'user') turn('user').blocks.push(blocks);
      else system.push(textOf(blocks));
    }
    const chars = blocks.reduce((n, b) => n + charsOf(b), 0);
    if (chars > limits.maxMessageChars)
      throw invalidValue(`${at}.content`, `must be at most ${limits.maxMessageChars} characters.`);
    total += chars;
  });
  if (open.size > 0)
    throw invalidValue('messages', `the tool calls ${[...open].join(', ')} are not answered by 'tool' messages.`);
  if (total > limits.maxTotalChars)
    throw invalidValue('messages', `all messages together must be at most ${limits.maxTotalChars} characters.`);
  const turns = drafts.map((d): ChatTurn => ({ role: d.role, content: contentOf(d) }));
  if (turns.length === 0) throw invalidValue('messages', 'at least one user message is required.');
  if (turns[0]?.role !== 'user') throw invalidValue('messages', 'the conversation must start with a user message.');
  if (turns.length > limits.maxHistoryMessages + 1)
    throw invalidValue('messages', `at most ${limits.maxHistoryMessages + 1} user and assistant turns.`);
  return { system: system.length ? system.join('\n\n') : undefined, turns, usesTools };
}
