/**
 * A small, real EventBridge event-pattern matcher for the local bus.
 *
 * Supported (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html): nested objects, arrays of
 * allowed values (a match on any), exact strings/numbers/booleans/null, `prefix`, `suffix`, `equals-ignore-case`,
 * `anything-but` (a value, a list, or `{prefix}`), `exists`, and `numeric` comparisons. A pattern field that is an array
 * matches an event field that is an array when any element matches. Unknown operators throw, so a rule the local bus
 * cannot evaluate fails loudly instead of silently never matching.
 */
export type EventPattern = Record<string, unknown>;

export class EventPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventPatternError';
  }
}

export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (!isObject(event)) return false;
  for (const [key, rule] of Object.entries(pattern)) {
    const present = Object.hasOwn(event, key);
    const value = present ? event[key] : undefined;
    if (Array.isArray(rule)) {
      if (!matchesAny(rule, value, present)) return false;
    } else if (isObject(rule)) {
      if (!present || !isObject(value) || !matchesPattern(rule, value)) return false;
    } else {
      throw new EventPatternError(`pattern field "${key}" must be an array of values or an object`);
    }
  }
  return true;
}

function matchesAny(matchers: unknown[], value: unknown, present: boolean): boolean {
  const values = Array.isArray(value) ? value : [value];
  return matchers.some((m) => {
    if (isObject(m) && 'exists' in m) {
      // `exists` is about the field, not its elements; EventBridge only considers leaf values.
      const exists = present && value !== undefined && !isObject(value);
      return m.exists === exists;
    }
    if (!present) return false;
    return values.some((v) => matchesOne(m, v));
  });
}

function matchesOne(matcher: unknown, value: unknown): boolean {
  if (!isObject(matcher)) return matcher === value;
  const [op, arg] = Object.entries(matcher)[0] ?? [];
  switch (op) {
    case 'prefix':
      if (isObject(arg) && typeof arg['equals-ignore-case'] === 'string') {
        return typeof value === 'string' && value.toLowerCase().startsWith(arg['equals-ignore-case'].toLowerCase());
      }
      return typeof value === 'string' && typeof arg === 'string' && value.startsWith(arg);
    case 'suffix':
      return typeof value === 'string' && typeof arg === 'string' && value.endsWith(arg);
    case 'equals-ignore-case':
      return typeof value === 'string' && typeof arg === 'string' && value.toLowerCase() === arg.toLowerCase();
    case 'anything-but':
      if (Array.isArray(arg)) return !arg.includes(value as never);
      if (isObject(arg)) return !matchesOne(arg, value);
      return value !== arg;
    case 'numeric':
      return typeof value === 'number' && Array.isArray(arg) && numeric(arg, value);
    default:
      throw new EventPatternError(`unsupported pattern operator "${op}"`);
  }
}

function numeric(conditions: unknown[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const op = conditions[i];
    const bound = conditions[i + 1];
    if (typeof bound !== 'number') throw new EventPatternError('numeric: bounds must be numbers');
    const ok =
      op === '='
        ? value === bound
        : op === '<'
          ? value < bound
          : op === '<='
            ? value <= bound
            : op === '>'
              ? value > bound
              : op === '>='
                ? value >= bound
                : undefined;
    if (ok === undefined) throw new EventPatternError(`numeric: unsupported operator "${String(op)}"`);
    if (!ok) return false;
  }
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a `$.a.b.c` JSON path (the subset EventBridge's `InputPath` needs for our targets). */
export function readJsonPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  if (!path.startsWith('$.')) throw new EventPatternError(`unsupported JSON path "${path}"`);
  let current: unknown = value;
  for (const part of path.slice(2).split('.')) {
    if (!isObject(current)) return undefined;
    current = current[part];
  }
  return current;
}
