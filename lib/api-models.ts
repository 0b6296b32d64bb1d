/**
 * Turns the contract's zod schemas into API Gateway model schemas: each method carries its body's model, so the
 * deployed API (and an export of it) describes exactly what the handlers accept. The gateway does not validate bodies
 * against them; the handlers do, with messages that name the field (see `addGatewayResponses` in constructs/api.ts).
 *
 * API Gateway models are JSON Schema draft 4; zod 4 writes draft 4 with `z.toJSONSchema(schema, { target: 'draft-4' })`.
 * CDK's `JsonSchema` spells the `$`-keywords without the dollar (`schema`, `ref`) and adds it back when it renders the
 * template. Any keyword outside what CDK's type declares fails here, at synth, naming the keyword: better than a model
 * that CloudFormation rejects at deploy time or, worse, one that validates less than the contract says.
 */
import type { JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { z } from 'zod';

const RENAMED: Readonly<Record<string, string>> = { $schema: 'schema', $ref: 'ref', $id: 'id' };

/** Keywords whose value is a schema. */
const SCHEMA_VALUED = new Set(['items', 'additionalItems', 'contains', 'additionalProperties', 'propertyNames', 'not']);
/** Keywords whose value is a list of schemas. */
const SCHEMA_LIST_VALUED = new Set(['allOf', 'anyOf', 'oneOf']);
/** Keywords whose value maps user-chosen names to schemas. */
const SCHEMA_MAP_VALUED = new Set(['properties', 'patternProperties', 'definitions', 'dependencies']);
/** Keywords with a plain value. */
const PLAIN = new Set([
  'schema',
  'id',
  'ref',
  'type',
  'title',
  'description',
  'enum',
  'default',
  'format',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
]);

/** Converts a draft-4 JSON Schema object (as zod writes it) into CDK's `JsonSchema`. */
export function toCdkJsonSchema(schema: unknown, path = '$'): JsonSchema {
  if (typeof schema === 'boolean') {
    // `true`/`false` sub-schemas are not draft 4; an empty schema accepts anything, `not: {}` accepts nothing.
    return schema ? {} : { not: {} };
  }
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new Error(`${path}: expected a JSON schema object`);
  }
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(schema)) {
    const key = RENAMED[rawKey] ?? rawKey;
    const at = `${path}.${rawKey}`;
    if (SCHEMA_VALUED.has(key)) {
      out[key] = typeof value === 'boolean' && key !== 'items' ? value : mapSchemaOrList(value, at);
    } else if (SCHEMA_LIST_VALUED.has(key)) {
      out[key] = asArray(value, at).map((v, i) => toCdkJsonSchema(v, `${at}[${i}]`));
    } else if (SCHEMA_MAP_VALUED.has(key)) {
      out[key] = Object.fromEntries(
        Object.entries(asObject(value, at)).map(([name, v]) => [
          name,
          key === 'dependencies' && Array.isArray(v) ? v : toCdkJsonSchema(v, `${at}.${name}`),
        ]),
      );
    } else if (PLAIN.has(key)) {
      out[key] = value;
    } else {
      throw new Error(`${at}: JSON schema keyword "${rawKey}" is not supported by API Gateway models (draft 4)`);
    }
  }
  return out as JsonSchema;
}

/** The API Gateway model schema for a request-body zod schema. */
export function modelSchemaFor(schema: z.core.$ZodType): JsonSchema {
  return toCdkJsonSchema(z.toJSONSchema(schema, { target: 'draft-4' }));
}

function mapSchemaOrList(value: unknown, at: string): JsonSchema | JsonSchema[] {
  return Array.isArray(value) ? value.map((v, i) => toCdkJsonSchema(v, `${at}[${i}]`)) : toCdkJsonSchema(value, at);
}

function asArray(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${at}: expected an array`);
  return value;
}

function asObject(value: unknown, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${at}: expected an object`);
  return value as Record<string, unknown>;
}
