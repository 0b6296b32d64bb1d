/** Checking request fields as OpenAI does, and naming the field at fault as OpenAI names it (`messages[1].content[0]`). */
import { OpenAIParamError } from './errors';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

export const invalidType = (param: string, expected: string, value: unknown) =>
  new OpenAIParamError(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    'invalid_type',
  );
export const invalidValue = (param: string, message: string) =>
  new OpenAIParamError(`Invalid value for '${param}': ${message}`, param, 'invalid_value');
export const unsupported = (param: string, message: string) =>
  new OpenAIParamError(`Unsupported parameter: '${param}': ${message}`, param, 'unsupported_parameter');
export const missing = (param: string) =>
  new OpenAIParamError(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');

/** A field that OpenAI lets clients send as `null` for "unset". */
export const given = (body: Json, key: string) => body[key] !== undefined && body[key] !== null;

/** Tool and function names as Converse accepts them (OpenAI's own rule is the same). */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Deepest nesting a tool schema or tool call input may have. Real schemas are a few levels deep; a limit keeps a
 * pathological one (JSON parses iteratively, but serialising it again recurses) from failing later as a 500.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays deeper than `limit`; iterative, so any depth is safe to check. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}
