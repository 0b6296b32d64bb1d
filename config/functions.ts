/**
 * Where a function's code lives: `lambda/functions/<name>/handler.ts`, exporting `handler`. The stack bundles it from
 * there and the local cloud loads it from there, so the two cannot look in different places.
 *
 * Not re-exported by `config/index.ts`: it reads `node:path` and this file's location, which a bundled function has no
 * use for.
 */
import * as path from 'node:path';
import type { FunctionName } from './routes';

/** Folder holding one sub-folder per function, each with a `handler.ts` exporting `handler`. */
export const FUNCTIONS_DIR = path.join(__dirname, '..', 'lambda', 'functions');

/** The name of the export each `handler.ts` provides. */
export const HANDLER_EXPORT = 'handler';

/** Absolute path of a function's entry file. */
export function handlerEntry(functionName: FunctionName): string {
  return path.join(FUNCTIONS_DIR, functionName, 'handler.ts');
}
