/**
 * Writes the OpenAPI description, generated from the route table and the contract (openapi/document.ts), to
 * docs/openapi.json.
 *
 *   npm run openapi              write it
 *   npm run openapi -- --check   only compare: exit 1 when the committed file is not what the contract says now
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument, OPENAPI_FILE, serializeOpenApi } from '../openapi/document';

const ROOT = join(__dirname, '..');

/** Writes (or with `--check` compares) the description; returns the line to print and the exit code. */
export function main(argv: readonly string[], root = ROOT): { message: string; exitCode: number } {
  const text = serializeOpenApi(buildOpenApiDocument());
  const path = join(root, OPENAPI_FILE);
  if (argv.includes('--check')) {
    let committed: string | undefined;
    try {
      committed = readFileSync(path, 'utf8');
    } catch {
      committed = undefined;
    }
    return committed === text
      ? { message: `${OPENAPI_FILE} is current`, exitCode: 0 }
      : { message: `${OPENAPI_FILE} is not current: run npm run openapi`, exitCode: 1 };
  }
  writeFileSync(path, text);
  return { message: `wrote ${OPENAPI_FILE}`, exitCode: 0 };
}

if (require.main === module) {
  try {
    const { message, exitCode } = main(process.argv.slice(2));
    (exitCode === 0 ? process.stdout : process.stderr).write(`${message}\n`);
    process.exitCode = exitCode;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    process.exitCode = 1;
  }
}
