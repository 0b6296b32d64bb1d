/**
 * The one formatter of validation problems, for request bodies (`lambda/core/validation.ts`) and the configuration
 * (`config/schema.ts`) alike: `field: problem`, field first, in the API's own words. Messages written into a schema
 * take precedence over these.
 */
import type * as z from 'zod/v4/core';

/**
 * Formats zod issues as `field: problem` pairs, field first, one problem per field; the first few are enough to fix a
 * request. An unknown field is named as the field.
 */
export function describeIssues(error: z.$ZodError): string {
  return issueLines(error, 'body').slice(0, 5).join('; ');
}

/** Every problem of a value, `field: problem`, one per field; `rootLabel` names the value itself. */
export function issueLines(error: z.$ZodError, rootLabel: string): string[] {
  const byField = new Map<string, string>();
  for (const issue of error.issues) {
    const at = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        if (!byField.has([...at, key].join('.'))) byField.set([...at, key].join('.'), 'is not a known field');
      continue;
    }
    const field = at.length ? at.join('.') : rootLabel;
    if (!byField.has(field)) byField.set(field, issue.message);
  }
  return [...byField].map(([field, problem]) => `${field}: ${problem}`);
}

type Issue = z.$ZodRawIssue;

const ARTICLE_TYPES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  record: 'an object',
};

/**
 * The problem part of a message, in the API's own words (zod's defaults read `Invalid input: expected string, received
 * undefined`). Messages written into a schema take precedence over these.
 */
export function problemOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${ARTICLE_TYPES[issue.expected] ?? issue.expected}`;
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${max} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${max} items`;
      return `must be at most ${max}`;
    }
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'string') return min === '1' ? 'must not be empty' : `must be at least ${min} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at least ${min} items`;
      return `must be at least ${min}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return 'is not valid';
  }
}
