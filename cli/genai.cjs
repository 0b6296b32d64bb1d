#!/usr/bin/env node
'use strict';
/**
 * `genai` (package.json "bin"; `npx genai …` in this repository): registers tsx's CommonJS hook so the TypeScript
 * sources run as they are, then runs cli/main.ts with this process's streams, environment and Ctrl-C.
 */
require('tsx/cjs/api').register();
const { run } = require('./main.ts');

const INTERRUPTED = 130;
/** How long a command may take to wind down after Ctrl-C (cancelling its requests) before the process just ends. */
const WIND_DOWN_MS = 2000;

const controller = new AbortController();
process.once('SIGINT', () => {
  controller.abort(new DOMException('Interrupted', 'AbortError'));
  process.once('SIGINT', () => process.exit(INTERRUPTED));
  setTimeout(() => process.exit(INTERRUPTED), WIND_DOWN_MS).unref();
});
// `genai chat … | head -1`: a reader that stops early is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

run(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
  get stdin() {
    return process.stdin;
  },
}).then((status) => {
  // Writes to pipes and files are synchronous on Linux and macOS, so nothing is lost; exiting now does not wait for
  // idle keep-alive connections to time out.
  process.exit(status);
});
