/**
 * Parsing and validation of a Converse / ConverseStream request body: messages with text, image, toolUse and toolResult
 * blocks, and the tool configuration. Shapes and limits follow the Bedrock Runtime API reference (`Message`,
 * `ContentBlock`, `ImageBlock`, `ToolUseBlock`, `ToolResultBlock`, `ToolConfiguration`, `ToolChoice`), so a client sees
 * the `ValidationException` it would get from Bedrock rather than an answer to a request Bedrock refuses.
 */

import { createHash } from 'node:crypto';
import { MAX_CHECKPOINTS, type Checkpoint } from './prompt-cache';

/** A tool the request offers: its name and the JSON schema of its input. */
export interface ToolSpec {
  readonly name: string;
  readonly schema: Record<string, unknown>;
}

/** `toolConfig.toolChoice`: `auto` (the default), `any`, or one named tool. */
export type ToolChoice = { readonly kind: 'auto' | 'any' } | { readonly kind: 'tool'; readonly name: string };

/** An image the model was shown. */
export interface SeenImage {
  readonly format: string;
  /** Decoded size; 0 for an image referenced in S3. */
  readonly bytes: number;
}

/** A `toolResult` block of the last message, with the name of the tool whose call it answers. */
export interface ToolResult {
  readonly toolUseId: string;
  readonly toolName: string;
  readonly status: 'success' | 'error';
  /** The result's content blocks as text (JSON serialised, images described). */
  readonly text: string;
}

export interface ParsedRequest {
  /** The `cachePoint` blocks of the system prompt and the messages, in prompt order (tools, system, messages). */
  checkpoints: readonly Checkpoint[];
  /** What the answer is derived from: system prompt and last user message. */
  seedText: string;
  /** Text of the last user message. */
  lastUserText: string;
  inputTokens: number;
  maxTokens?: number;
  /** Empty when the request carries no `toolConfig`. */
  tools: readonly ToolSpec[];
  toolChoice: ToolChoice;
  /** Images of the last user message, in order. */
  images: readonly SeenImage[];
  /** `toolResult` blocks of the last message, when it is the user's. */
  toolResults: readonly ToolResult[];
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const TOOL_USE_ID = /^[a-zA-Z0-9_.:-]{1,64}$/;
const IMAGE_FORMATS = ['png', 'jpeg', 'gif', 'webp'];
/** Bedrock's limit for one image sent as bytes. */
const MAX_IMAGE_BYTES = 3.75 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Content block members the simulator accepts without looking inside (it never answers from them). */
const OPAQUE_MEMBERS = new Set(['document', 'video', 'audio', 'guardContent', 'reasoningContent']);
/** Rough image cost: one token per 64 bytes, at most what the largest image costs on Claude (about 1,600 tokens). */
const IMAGE_BYTES_PER_TOKEN = 64;
const MAX_IMAGE_TOKENS = 1600;

class RequestError extends Error {}

/** Just enough of Bedrock's request validation for clients to see realistic `ValidationException`s. */
export function parseRequest(raw: string): ParsedRequest | { error: string } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return { error: 'The request body is not valid JSON.' };
  }
  if (!isRecord(body)) return { error: 'The request body must be a JSON object.' };
  try {
    return parseBody(body);
  } catch (err) {
    if (err instanceof RequestError) return { error: err.message };
    throw err;
  }
}

function parseBody(body: Record<string, unknown>): ParsedRequest {
  const { messages, system, inferenceConfig, toolConfig } = body;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError('The messages field is required and must contain at least one message.');
  }
  let maxTokens: number | undefined;
  if (isRecord(inferenceConfig) && inferenceConfig.maxTokens !== undefined) {
    const value = inferenceConfig.maxTokens;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new RequestError('inferenceConfig.maxTokens must be an integer of at least 1.');
    }
    maxTokens = value;
  }
  const { tools, toolChoice, configChars } = parseToolConfig(toolConfig);

  // The prompt prefix so far, digested for the prompt cache: the tools, then the system blocks and messages in order.
  const prefix = createHash('sha256').update(JSON.stringify(toolConfig ?? null));
  const checkpoints: Checkpoint[] = [];
  const systemBlocks = Array.isArray(system) ? system : [];
  let chars = configChars;
  systemBlocks.forEach((block, b) => {
    if (isRecord(block) && block.cachePoint !== undefined) {
      parseCachePoint(block.cachePoint, `system.${b}.cachePoint`);
      checkpoints.push({ chars, key: prefix.copy().digest('hex') });
      return;
    }
    const text = isRecord(block) && typeof block.text === 'string' ? block.text : '';
    chars += text.length;
    prefix.update(`\u0000system\u0000${text}`);
  });
  const systemText = blockText(system);
  let imageTokens = 0;
  let lastUserText = '';
  let images: SeenImage[] = [];
  let toolResults: ToolResult[] = [];
  /** Tool calls of the previous assistant message, by id: a `toolResult` must answer one of them. */
  let pendingToolUses = new Map<string, string>();

  messages.forEach((message, m) => {
    const at = `messages.${m}`;
    if (!isRecord(message)) throw new RequestError(`${at} must be an object.`);
    const { role, content } = message;
    if (role !== 'user' && role !== 'assistant') throw new RequestError(`${at}.role must be user or assistant.`);
    if (!Array.isArray(content) || content.length === 0) {
      throw new RequestError(`${at}.content must contain at least one content block.`);
    }
    const blocks = content.map((block, b) => parseBlock(block, `${at}.content.${b}`, role));
    if (blocks.some((block) => block.kind === 'toolUse' || block.kind === 'toolResult') && tools.length === 0) {
      throw new RequestError('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
    }

    const results: ToolResult[] = [];
    prefix.update(`\u0000${role}`);
    for (const [b, block] of blocks.entries()) {
      if (block.kind === 'cachePoint') {
        checkpoints.push({ chars, key: prefix.copy().digest('hex') });
        continue;
      }
      prefix.update(`\u0000${JSON.stringify(content[b])}`);
      chars += block.chars;
      if (block.kind === 'image')
        imageTokens += Math.min(MAX_IMAGE_TOKENS, Math.ceil(block.bytes / IMAGE_BYTES_PER_TOKEN));
      if (block.kind === 'toolResult') {
        const toolName = pendingToolUses.get(block.toolUseId);
        if (toolName === undefined) {
          throw new RequestError(
            `${at}: toolResult ${block.toolUseId} does not answer a toolUse of the previous assistant message.`,
          );
        }
        results.push({ toolUseId: block.toolUseId, toolName, status: block.status, text: block.text });
      }
    }
    pendingToolUses = new Map(
      blocks.flatMap((block) => (block.kind === 'toolUse' ? [[block.toolUseId, block.name] as const] : [])),
    );
    if (role === 'user') {
      lastUserText = blocks.flatMap((block) => (block.kind === 'text' ? [block.text] : [])).join('\n');
      images = blocks.flatMap((block) =>
        block.kind === 'image' ? [{ format: block.format, bytes: block.bytes }] : [],
      );
    }
    toolResults = role === 'user' ? results : [];
  });

  if (checkpoints.length > MAX_CHECKPOINTS) {
    throw new RequestError(
      `A maximum of ${MAX_CHECKPOINTS} cachePoint blocks may be provided; found ${checkpoints.length}.`,
    );
  }
  return {
    checkpoints,
    seedText: `${systemText}\u0000${lastUserText}`,
    lastUserText,
    inputTokens: Math.max(1, Math.ceil(chars / 4) + imageTokens),
    maxTokens,
    tools,
    toolChoice,
    images,
    toolResults,
  };
}

function parseToolConfig(config: unknown): { tools: ToolSpec[]; toolChoice: ToolChoice; configChars: number } {
  if (config === undefined || config === null) return { tools: [], toolChoice: { kind: 'auto' }, configChars: 0 };
  if (!isRecord(config)) throw new RequestError('toolConfig must be an object.');
  const { tools: list, toolChoice: choice } = config;
  if (!Array.isArray(list) || list.length === 0) {
    throw new RequestError('toolConfig.tools must contain at least one tool.');
  }
  const tools = list.map((tool, t): ToolSpec => {
    const at = `toolConfig.tools.${t}`;
    const spec = isRecord(tool) ? tool.toolSpec : undefined;
    if (!isRecord(spec)) throw new RequestError(`${at}.toolSpec is required.`);
    if (typeof spec.name !== 'string' || !NAME.test(spec.name)) {
      throw new RequestError(`${at}.toolSpec.name must be 1 to 64 characters of [a-zA-Z0-9_-].`);
    }
    if (spec.description !== undefined && (typeof spec.description !== 'string' || spec.description === '')) {
      throw new RequestError(`${at}.toolSpec.description must be a non-empty string.`);
    }
    const schema = isRecord(spec.inputSchema) ? spec.inputSchema.json : undefined;
    if (!isRecord(schema)) throw new RequestError(`${at}.toolSpec.inputSchema.json must be a JSON schema object.`);
    return { name: spec.name, schema };
  });
  const names = new Set<string>();
  for (const { name } of tools) {
    if (names.has(name)) throw new RequestError(`toolConfig.tools: the tool name ${name} is used more than once.`);
    names.add(name);
  }
  return { tools, toolChoice: parseToolChoice(choice, names), configChars: JSON.stringify(list).length };
}

function parseToolChoice(choice: unknown, names: ReadonlySet<string>): ToolChoice {
  if (choice === undefined || choice === null) return { kind: 'auto' };
  const member = isRecord(choice) ? onlyMember(choice) : undefined;
  if (member === 'auto' || member === 'any') return { kind: member };
  if (member === 'tool' && isRecord(choice) && isRecord(choice.tool)) {
    const { name } = choice.tool;
    if (typeof name !== 'string' || !names.has(name)) {
      throw new RequestError('toolConfig.toolChoice.tool.name must name one of the tools in toolConfig.tools.');
    }
    return { kind: 'tool', name };
  }
  throw new RequestError('toolConfig.toolChoice must have exactly one of auto, any or tool.');
}

type Block =
  | { kind: 'text'; text: string; chars: number }
  | { kind: 'image'; format: string; bytes: number; chars: number }
  | { kind: 'toolUse'; toolUseId: string; name: string; chars: number }
  | { kind: 'toolResult'; toolUseId: string; status: 'success' | 'error'; text: string; chars: number }
  | { kind: 'cachePoint'; chars: 0 }
  | { kind: 'other'; chars: number };

/** One `ContentBlock`, a union: exactly one member may be set. */
function parseBlock(block: unknown, at: string, role: 'user' | 'assistant'): Block {
  const member = isRecord(block) ? onlyMember(block) : undefined;
  if (!isRecord(block) || member === undefined) {
    throw new RequestError(`${at} must have exactly one member (text, image, toolUse, toolResult, ...).`);
  }
  const value = block[member];
  switch (member) {
    case 'text':
      if (typeof value !== 'string') throw new RequestError(`${at}.text must be a string.`);
      return { kind: 'text', text: value, chars: value.length };
    case 'image': {
      const { format, bytes } = parseImage(value, `${at}.image`);
      return { kind: 'image', format, bytes, chars: 0 };
    }
    case 'toolUse':
      return parseToolUse(value, `${at}.toolUse`, role);
    case 'toolResult':
      return parseToolResult(value, `${at}.toolResult`, role);
    case 'cachePoint':
      parseCachePoint(value, `${at}.cachePoint`);
      return { kind: 'cachePoint', chars: 0 };
    default:
      if (!OPAQUE_MEMBERS.has(member)) throw new RequestError(`${at}.${member} is not a supported content block.`);
      return { kind: 'other', chars: 0 };
  }
}

/** `CachePointBlock`: `{"type": "default"}`, the only type. */
function parseCachePoint(value: unknown, at: string): void {
  if (!isRecord(value) || value.type !== 'default') throw new RequestError(`${at}.type must be default.`);
}

function parseImage(image: unknown, at: string): SeenImage {
  if (!isRecord(image)) throw new RequestError(`${at} must be an object.`);
  const { format, source } = image;
  if (typeof format !== 'string' || !IMAGE_FORMATS.includes(format)) {
    throw new RequestError(`${at}.format must be one of ${IMAGE_FORMATS.join(', ')}.`);
  }
  const member = isRecord(source) ? onlyMember(source) : undefined;
  if (!isRecord(source) || (member !== 'bytes' && member !== 's3Location')) {
    throw new RequestError(`${at}.source must have exactly one of bytes or s3Location.`);
  }
  if (member === 's3Location') {
    if (!isRecord(source.s3Location) || typeof source.s3Location.uri !== 'string') {
      throw new RequestError(`${at}.source.s3Location.uri is required.`);
    }
    return { format, bytes: 0 };
  }
  // The SDK sends blob members base64-encoded in the JSON body.
  const data = source.bytes;
  if (typeof data !== 'string' || data.length === 0 || data.length % 4 !== 0 || !BASE64.test(data)) {
    throw new RequestError(`${at}.source.bytes must be non-empty base64-encoded image data.`);
  }
  const bytes = Buffer.byteLength(data, 'base64');
  if (bytes > MAX_IMAGE_BYTES) throw new RequestError(`${at}.source.bytes must be at most 3.75 MB.`);
  return { format, bytes };
}

function parseToolUse(toolUse: unknown, at: string, role: 'user' | 'assistant'): Block {
  if (role !== 'assistant') throw new RequestError(`${at}: toolUse blocks may only appear in assistant messages.`);
  if (!isRecord(toolUse)) throw new RequestError(`${at} must be an object.`);
  const { toolUseId, name, input } = toolUse;
  if (typeof toolUseId !== 'string' || !TOOL_USE_ID.test(toolUseId)) {
    throw new RequestError(`${at}.toolUseId must be 1 to 64 characters of [a-zA-Z0-9_.:-].`);
  }
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new RequestError(`${at}.name must be 1 to 64 characters of [a-zA-Z0-9_-].`);
  }
  if (input === undefined) throw new RequestError(`${at}.input is required.`);
  return { kind: 'toolUse', toolUseId, name, chars: name.length + JSON.stringify(input).length };
}

function parseToolResult(toolResult: unknown, at: string, role: 'user' | 'assistant'): Block {
  if (role !== 'user') throw new RequestError(`${at}: toolResult blocks may only appear in user messages.`);
  if (!isRecord(toolResult)) throw new RequestError(`${at} must be an object.`);
  const { toolUseId, content, status } = toolResult;
  if (typeof toolUseId !== 'string' || !TOOL_USE_ID.test(toolUseId)) {
    throw new RequestError(`${at}.toolUseId must be 1 to 64 characters of [a-zA-Z0-9_.:-].`);
  }
  if (status !== undefined && status !== 'success' && status !== 'error') {
    throw new RequestError(`${at}.status must be success or error.`);
  }
  if (!Array.isArray(content)) throw new RequestError(`${at}.content must be a list of content blocks.`);
  const parts = content.map((part, p) => {
    const where = `${at}.content.${p}`;
    const member = isRecord(part) ? onlyMember(part) : undefined;
    if (!isRecord(part) || member === undefined) {
      throw new RequestError(`${where} must have exactly one of text, json, image, document or video.`);
    }
    const value = part[member];
    switch (member) {
      case 'text':
        if (typeof value !== 'string') throw new RequestError(`${where}.text must be a string.`);
        return value;
      case 'json':
        return JSON.stringify(value);
      case 'image': {
        const image = parseImage(value, `${where}.image`);
        return `image/${image.format} ${image.bytes} bytes`;
      }
      case 'document':
      case 'video':
        return member;
      default:
        throw new RequestError(`${where}.${member} is not a supported tool result content block.`);
    }
  });
  const text = parts.join('\n');
  return { kind: 'toolResult', toolUseId, status: status ?? 'success', text, chars: text.length };
}

/** The name of the one member set (not null) in a union, or undefined when none or several are. */
function onlyMember(union: Record<string, unknown>): string | undefined {
  const set = Object.keys(union).filter((key) => union[key] !== undefined && union[key] !== null);
  return set.length === 1 ? set[0] : undefined;
}

function blockText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks.flatMap((b) => (isRecord(b) && typeof b.text === 'string' ? [b.text] : [])).join('\n');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
