/**
 * Checking values against the schemas of the OpenAPI description with ajv (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1), and running the OpenAPI validator, which is an ES module, in a child process.
 */
import { execFile } from 'node:child_process';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { OpenApiDocument } from '../../openapi/document';

const DOCUMENT_ID = 'urn:genai-api:openapi';

/** The parts of the description the tests read. */
export interface SpecHeader {
  readonly description?: string;
  readonly required?: boolean;
  readonly schema?: { readonly type?: string };
}
export type Ref = { readonly $ref: string };
export interface SpecMediaType {
  readonly schema?: unknown;
  readonly 'x-itemSchema'?: Ref;
}
export interface SpecResponse {
  readonly description: string;
  readonly headers?: Readonly<Record<string, SpecHeader | Ref>>;
  readonly content?: Readonly<Record<string, SpecMediaType>>;
}
export interface SpecOperation {
  readonly operationId: string;
  readonly summary: string;
  readonly tags: readonly string[];
  readonly responses: Readonly<Record<string, SpecResponse>>;
}
export type SpecPaths = Readonly<Record<string, Readonly<Record<string, SpecOperation>>>>;

/** An event-stream item schema: branches told apart by a constant `event` or `data`, or by the data's schema. */
export interface ItemSchema {
  readonly oneOf?: readonly ItemBranch[];
  readonly anyOf?: readonly ItemBranch[];
}
export interface ItemBranch {
  readonly properties: {
    readonly event?: { readonly const: string };
    readonly data: { readonly const?: string; readonly contentSchema?: Ref };
  };
}

/** The value at a `#/…` reference of the document. */
export function resolveRef<T>(document: OpenApiDocument, ref: string): T {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>(
      (node, key) => (node as Record<string, unknown>)[key.replace(/~1/g, '/').replace(/~0/g, '~')],
      document,
    ) as T;
}

export interface SpecSchemas {
  /** The validator of the schema at a JSON pointer of the document, e.g. `/components/schemas/ChatResponse`. */
  at(pointer: string): ValidateFunction;
  /** Why `value` does not fit the schema at `pointer` (ajv's messages), or undefined when it does. */
  problems(pointer: string, value: unknown): string | undefined;
}

/**
 * The document's schemas, resolved as the document resolves them (`#/components/schemas/…` from its root). With
 * `closed`, every object schema that lists its properties and says nothing about others refuses others
 * (`unevaluatedProperties: false`): the description lets clients tolerate new fields, the tests hold the server to the
 * documented ones.
 */
export function specSchemas(document: OpenApiDocument, options: { closed?: boolean } = {}): SpecSchemas {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const root = structuredClone(document) as Record<string, unknown>;
  if (options.closed) closeObjects(root);
  ajv.addSchema({ ...root, $id: DOCUMENT_ID });
  const cache = new Map<string, ValidateFunction>();
  const at = (pointer: string) => {
    let validate = cache.get(pointer);
    if (!validate) {
      validate = ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` });
      cache.set(pointer, validate);
    }
    return validate;
  };
  return {
    at,
    problems: (pointer, value) => {
      const validate = at(pointer);
      if (validate(value)) return undefined;
      return (validate.errors ?? [])
        .map(({ instancePath, message, params }) => {
          const extra = params.unevaluatedProperty ?? params.allowedValues ?? params.missingProperty;
          return `body${instancePath} ${message}${extra === undefined ? '' : `: ${JSON.stringify(extra)}`}`;
        })
        .join('; ');
    },
  };
}

/** `/paths/{path}/…` as a JSON pointer segment. */
export const pointerSegment = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

function closeObjects(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) closeObjects(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const schema = node as Record<string, unknown>;
  const listsProperties = typeof schema.properties === 'object' && schema.properties !== null;
  if (listsProperties && !('additionalProperties' in schema) && !('unevaluatedProperties' in schema))
    schema.unevaluatedProperties = false;
  for (const value of Object.values(schema)) closeObjects(value);
}

/** `new Validator().validate(document)` of @seriousme/openapi-schema-validator, and the version it recognised. */
export function validateOpenApi(
  document: OpenApiDocument,
): Promise<{ valid: boolean; errors?: unknown; version?: string }> {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(text));
    process.stdout.write(JSON.stringify({ ...result, version: validator.version }));
  `;
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: `${__dirname}/../..`, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
    );
    child.stdin?.end(JSON.stringify(document));
  });
}
