/** What a command runs with: its environment, its two output streams and the Ctrl-C signal. */

/** The part of a stream a command writes to (process.stdout, process.stderr, or a test's buffer). */
export interface Output {
  write(text: string): unknown;
  /** True when a person watches it (a spinner is drawn only then). */
  readonly isTTY?: boolean;
}

export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  /** The command's result: the answer, the key, the JSON. */
  readonly stdout: Output;
  /** Everything else: metrics, progress, errors. */
  readonly stderr: Output;
  /** Aborted on Ctrl-C: every request a command makes passes it on. */
  readonly signal: AbortSignal;
  /** What `-` reads (`genai chat -`). @default none */
  readonly stdin?: AsyncIterable<string | Buffer>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** One `genai <command>`: its help and how it runs. Resolves to the exit status; throws what `failure.ts` maps. */
export interface Command {
  /** `genai <command> --help`. */
  readonly help: string;
  run(argv: readonly string[], ctx: CliContext): Promise<number>;
}
