/** The README documents every configuration field, so a newcomer can rely on its table. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { appConfigSchema } from '../../config/schema';

const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

/** Dotted paths of every field of an object schema; plan entries are documented as `plans.<name>.<field>`. */
function fieldPaths(schema: z.ZodType, prefix: string[] = []): string[] {
  const def = (
    schema as unknown as {
      def: {
        type: string;
        innerType?: z.ZodType;
        in?: z.ZodType;
        valueType?: z.ZodType;
        shape?: Record<string, z.ZodType>;
      };
    }
  ).def;
  if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable')
    return fieldPaths(def.innerType!, prefix);
  if (def.type === 'pipe') return fieldPaths(def.in!, prefix);
  if (def.type === 'record') return fieldPaths(def.valueType!, [...prefix, '<name>']);
  if (def.type === 'object' && def.shape && !(prefix[0] === 'webhooks' && prefix[1] === 'subscribers')) {
    return Object.entries(def.shape).flatMap(([key, value]) => fieldPaths(value, [...prefix, key]));
  }
  return [prefix.join('.')];
}

describe('README configuration table', () => {
  const paths = fieldPaths(appConfigSchema);

  it('finds the fields of the schema', () => {
    expect(paths).toEqual(
      expect.arrayContaining([
        'models.primary',
        'plans.<name>.tokensPerDay',
        'breaker.cacheMs',
        'webhooks.subscribers',
      ]),
    );
  });

  it.each(paths)('documents %s', (path) => {
    expect(readme).toContain(`| \`${path}\` |`);
  });
});
