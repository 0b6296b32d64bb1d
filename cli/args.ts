/**
 * Command-line parsing on `node:util` `parseArgs`, with the checks a script can rely on: every mistake is a
 * {@link UsageError} (exit 2) whose message names the flag, and the options every command shares (`--url`, `--key`,
 * `--bearer`, `--help`) are accepted before or after the command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** A one-letter alias (`-h`). */
  readonly short?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean' ? boolean : string;
export type OptionValues<S extends OptionSpecs> = { -readonly [K in keyof S]?: ValueOf<S[K]> };

/** Where the API is and how to authenticate: accepted by every command that calls it. */
export const API_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  bearer: { type: 'boolean' },
} as const satisfies OptionSpecs;

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionSpecs;

/** Options of the top level (before a command): the API options, help and version. */
export const TOP_LEVEL_OPTIONS = {
  ...API_OPTIONS,
  ...HELP_OPTION,
  version: { type: 'boolean', short: 'V' },
} as const satisfies OptionSpecs;

export interface Parsed<S extends OptionSpecs> {
  readonly values: OptionValues<S>;
  readonly positionals: string[];
}

/**
 * Parses `argv` against `options`. Unlike `parseArgs`'s strict mode, the errors are ours: an unknown option, a missing
 * or ambiguous value (`--user --plan free`), a value given to a switch, and an option given twice are each a
 * {@link UsageError} naming the flag.
 */
export function parseOptions<S extends OptionSpecs>(command: string, argv: readonly string[], options: S): Parsed<S> {
  const { tokens } = parseArgs({
    args: [...argv],
    options: options as Record<string, OptionSpec>,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const flag = token.rawName.startsWith('--') ? token.rawName : `-${token.name}`;
    const spec = options[token.name];
    if (!spec) {
      const hint = /^-\d/.test(flag) || flag === '- ' ? ' (put text that starts with "-" after --)' : '';
      throw new UsageError(`unknown option ${flag.trim()}${hint}`, command);
    }
    const name = `--${token.name}`;
    if (values[token.name] !== undefined) throw new UsageError(`${name} given twice`, command);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${name} takes no value`, command);
      values[token.name] = true;
      continue;
    }
    // Without strict mode, parseArgs takes the next argument whatever it is: `--user --plan` would set the user to
    // "--plan". An option's value that looks like an option must be written inline (`--user=-x`).
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-') && token.value !== '-')) {
      throw new UsageError(`${name} needs a value`, command);
    }
    values[token.name] = token.value;
  }
  return { values: values as OptionValues<S>, positionals };
}

/** A whole number within bounds, or the default when the flag is absent. */
export function intOption(
  command: string,
  flag: string,
  raw: string | undefined,
  bounds: { readonly min: number; readonly max: number; readonly default: number },
): number;
export function intOption(
  command: string,
  flag: string,
  raw: string | undefined,
  bounds: { readonly min: number; readonly max: number; readonly default?: undefined },
): number | undefined;
export function intOption(
  command: string,
  flag: string,
  raw: string | undefined,
  bounds: { readonly min: number; readonly max: number; readonly default?: number },
): number | undefined {
  if (raw === undefined) return bounds.default;
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new UsageError(`${flag} must be a whole number from ${bounds.min} to ${bounds.max} (got "${raw}")`, command);
  }
  return value;
}

/** The command's positional arguments, exactly `names.length` of them (the last may be optional). */
export function expectPositionals(
  command: string,
  positionals: readonly string[],
  names: readonly string[],
  optional = 0,
): string[] {
  const min = names.length - optional;
  if (positionals.length < min) throw new UsageError(`missing ${names[positionals.length]}`, command);
  if (positionals.length > names.length) {
    const hint = names.length > 0 ? ' (quote text that has spaces)' : '';
    throw new UsageError(`unexpected argument "${positionals[names.length]}"${hint}`, command);
  }
  return [...positionals];
}

/**
 * Splits the command word off `argv`: options before it are the top-level ones (`genai --url X chat …`), and are
 * handed on to the command, which accepts them too.
 */
export function splitCommand(argv: readonly string[]): { command?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') return { command: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
    const name = arg.replace(/^--?/, '');
    const spec = (TOP_LEVEL_OPTIONS as OptionSpecs)[name];
    if (spec?.type === 'string') i++;
  }
  return { rest: [...argv] };
}
