/**
 * `tools` and `tool_choice` of a `POST /chat/completions` body, as the model's tool configuration. Only function tools
 * exist for Converse; OpenAI's other kinds (custom tools, allowed-tools lists) are refused, naming the parameter.
 */
import type { ToolChoice, ToolDefinition } from '../model';
import {
  given,
  invalidType,
  invalidValue,
  isObject,
  type Json,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  TOOL_NAME,
  unsupported,
} from './params';

export interface ToolConfig {
  /** Unset: the model gets no tools (none offered, or `tool_choice: "none"`). */
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

/** A function without `parameters` takes no arguments: OpenAI's documented meaning of an omitted schema. */
const NO_PARAMETERS = { type: 'object', properties: {} };

function toolDefinition(tool: unknown, at: string): ToolDefinition {
  if (!isObject(tool)) throw invalidType(at, 'an object', tool);
  if (tool.type !== 'function')
    throw unsupported(`${at}.type`, `only function tools are supported, got ${JSON.stringify(tool.type)}.`);
  const fn = tool.function;
  if (!isObject(fn)) throw invalidType(`${at}.function`, 'an object', fn);
  if (typeof fn.name !== 'string') throw invalidType(`${at}.function.name`, 'a string', fn.name);
  if (!TOOL_NAME.test(fn.name))
    throw invalidValue(`${at}.function.name`, "must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'.");
  let description: string | undefined;
  if (given(fn, 'description')) {
    if (typeof fn.description !== 'string') throw invalidType(`${at}.function.description`, 'a string', fn.description);
    // Converse refuses an empty description; an empty one says nothing, so it is left out.
    description = fn.description || undefined;
  }
  let inputSchema: Json = NO_PARAMETERS;
  if (given(fn, 'parameters')) {
    if (!isObject(fn.parameters)) throw invalidType(`${at}.function.parameters`, 'an object', fn.parameters);
    if (nestedDeeperThan(fn.parameters, MAX_JSON_DEPTH))
      throw invalidValue(`${at}.function.parameters`, `must nest at most ${MAX_JSON_DEPTH} levels deep.`);
    inputSchema = fn.parameters;
  }
  return { name: fn.name, description, inputSchema };
}

function toolChoiceOf(choice: unknown, tools: readonly ToolDefinition[]): ToolChoice | 'none' {
  if (choice === 'auto') return { type: 'auto' };
  // Converse's `any`: the model must call at least one of the tools, which is what OpenAI's `required` means.
  if (choice === 'required') return { type: 'any' };
  if (choice === 'none') return 'none';
  if (typeof choice === 'string')
    throw invalidValue(
      'tool_choice',
      `must be "none", "auto", "required" or a function; got ${JSON.stringify(choice)}.`,
    );
  if (!isObject(choice)) throw invalidType('tool_choice', 'a string or an object', choice);
  if (choice.type !== 'function')
    throw unsupported('tool_choice.type', `only "function" is supported, got ${JSON.stringify(choice.type)}.`);
  const name = isObject(choice.function) ? choice.function.name : undefined;
  if (typeof name !== 'string') throw invalidType('tool_choice.function.name', 'a string', name);
  if (!tools.some((t) => t.name === name))
    throw invalidValue('tool_choice.function.name', `no tool named ${JSON.stringify(name)} is in 'tools'.`);
  return { type: 'tool', name };
}

/** The tools the model is offered and how it may use them. */
export function toolConfig(body: Json): ToolConfig {
  if (given(body, 'functions'))
    throw unsupported('functions', "the deprecated 'functions' are not supported; send them as 'tools'.");
  if (given(body, 'function_call') && body.function_call !== 'none')
    throw unsupported('function_call', "the deprecated 'function_call' is not supported; use 'tool_choice'.");
  if (!given(body, 'tools')) {
    if (given(body, 'tool_choice') && body.tool_choice !== 'none')
      throw invalidValue('tool_choice', "'tool_choice' is only allowed when 'tools' are specified.");
    return {};
  }
  if (!Array.isArray(body.tools)) throw invalidType('tools', 'an array', body.tools);
  if (body.tools.length === 0) throw invalidValue('tools', 'empty array; expected at least one tool.');
  const tools = body.tools.map((tool, t) => toolDefinition(tool, `tools[${t}]`));
  const names = new Set<string>();
  tools.forEach(({ name }, t) => {
    if (names.has(name)) throw invalidValue(`tools[${t}].function.name`, `the name ${name} is used by another tool.`);
    names.add(name);
  });
  const choice = given(body, 'tool_choice') ? toolChoiceOf(body.tool_choice, tools) : { type: 'auto' as const };
  // Converse has no "none" choice: the only way to keep the model from calling a tool is to offer it none.
  if (choice === 'none') return {};
  return { tools, toolChoice: choice };
}
