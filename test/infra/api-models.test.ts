import { z } from 'zod';
import { chatRequestSchema } from '../../config/contract';
import { modelSchemaFor, toCdkJsonSchema } from '../../lib/api-models';

describe('API Gateway request models from the contract', () => {
  const schema = modelSchemaFor(chatRequestSchema) as Record<string, any>;

  it('declares draft 4 the way CDK expects it (schema, not $schema)', () => {
    expect(schema.schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(schema).not.toHaveProperty('$schema');
  });

  it('requires the message and rejects unknown fields, like the contract', () => {
    expect(schema.required).toEqual(['message']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.message).toMatchObject({ type: 'string', minLength: 1 });
    expect(schema.properties.history.items).toMatchObject({
      required: ['role', 'content'],
      additionalProperties: false,
      properties: { role: { enum: ['user', 'assistant'] } },
    });
    expect(schema.properties.maxTokens).toMatchObject({ type: 'integer', minimum: 1 });
    // The contract rejects the same bodies.
    expect(chatRequestSchema.safeParse({}).success).toBe(false);
    expect(chatRequestSchema.safeParse({ message: 'hi', extra: 1 }).success).toBe(false);
    expect(chatRequestSchema.safeParse({ message: 'hi', history: [{ role: 'system', content: 'x' }] }).success).toBe(
      false,
    );
  });

  it('keeps user-chosen property names that look like keywords', () => {
    const s = toCdkJsonSchema(
      z.toJSONSchema(z.object({ $ref: z.string(), type: z.number() }).strict(), { target: 'draft-4' }),
    ) as Record<string, any>;
    expect(Object.keys(s.properties)).toEqual(['$ref', 'type']);
  });

  it('turns open records into an empty (accept-anything) schema', () => {
    const s = modelSchemaFor(z.object({ metadata: z.record(z.string(), z.unknown()) })) as Record<string, any>;
    expect(s.properties.metadata).toEqual({ type: 'object', additionalProperties: {} });
  });

  it('fails at synth, naming the keyword, when a schema uses one API Gateway models do not know', () => {
    expect(() => toCdkJsonSchema({ type: 'object', properties: { a: { const: 1 } } })).toThrow(
      /\$\.properties\.a\.const: JSON schema keyword "const" is not supported/,
    );
  });
});
