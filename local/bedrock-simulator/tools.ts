/**
 * The simulator's scripted tool use: whether a request gets a `toolUse` answer, for which tool, and with what input.
 * Everything derives from the request, so the same request always calls the same tool with the same input and id.
 */
import type { ParsedRequest, ToolSpec } from './request';
import { fnv1a } from './text';

export interface ToolCall {
  readonly toolUseId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/**
 * The tool call a request gets, if any. None when the request offers no tools or its last message carries tool
 * results (the model then answers from them). Otherwise `toolChoice.tool` calls that tool; `any` calls the tool
 * named in the last user text, or else the first tool; `auto` (the default) calls a tool only when the last user text
 * names it (as a whole word; the earliest named wins).
 */
export function chooseToolCall(request: ParsedRequest): ToolCall | undefined {
  const { tools, toolChoice, toolResults, lastUserText } = request;
  if (tools.length === 0 || toolResults.length > 0) return undefined;
  const named = toolNamedIn(lastUserText, tools);
  const tool =
    toolChoice.kind === 'tool'
      ? tools.find((t) => t.name === toolChoice.name)
      : toolChoice.kind === 'any'
        ? (named ?? tools[0])
        : named;
  if (tool === undefined) return undefined;
  const key = `${request.seedText}\u0000${tool.name}`;
  return {
    // Bedrock's ids look like `tooluse_` and 22 characters; these are as unique as the request they derive from.
    toolUseId: `tooluse_${hex(fnv1a(key))}${hex(fnv1a(`${key}\u0000`))}`,
    name: tool.name,
    input: objectFor(tool.schema, lastUserText.trim()),
  };
}

function toolNamedIn(text: string, tools: readonly ToolSpec[]): ToolSpec | undefined {
  let best: { tool: ToolSpec; at: number } | undefined;
  for (const tool of tools) {
    // Names are [a-zA-Z0-9_-] only, so they need no escaping; a name inside a longer name does not count.
    const match = new RegExp(`(^|[^a-zA-Z0-9_-])${tool.name}(?![a-zA-Z0-9_-])`).exec(text);
    if (match && (best === undefined || match.index < best.at)) best = { tool, at: match.index };
  }
  return best?.tool;
}

/**
 * An input that satisfies the common part of a JSON schema: the required properties only, strings filled with the
 * prompt (or the first `enum` value), numbers with `minimum` or 1, booleans true, arrays empty, objects recursively.
 */
function objectFor(schema: Record<string, unknown>, prompt: string): Record<string, unknown> {
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [];
  return Object.fromEntries(required.map((name) => [name, valueFor(properties[name], prompt)]));
}

function valueFor(schema: unknown, prompt: string): unknown {
  if (!isRecord(schema)) return prompt;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type ?? (isRecord(schema.properties) ? 'object' : 'string')) {
    case 'object':
      return objectFor(schema, prompt);
    case 'array':
      return [];
    case 'integer':
      return typeof schema.minimum === 'number' ? Math.ceil(schema.minimum) : 1;
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return typeof schema.maxLength === 'number' ? prompt.slice(0, schema.maxLength) : prompt;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
