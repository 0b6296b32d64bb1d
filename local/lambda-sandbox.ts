/**
 * A local execution environment for one function: a child process that loads the unchanged handler and runs the
 * invocations it is sent. Used for the queue-driven functions, so that a crash is a real crash: `kill()` ends the process
 * (SIGKILL) with its invocations half done, exactly what a worker dying mid-job looks like to the rest of the system.
 *
 * Like Lambda: the environment starts on the first invocation (a cold start), is reused while it lives, and is thrown
 * away on a timeout; the next invocation starts a fresh one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PROJECT_ROOT = join(__dirname, '..');
const CHILD = join(__dirname, 'lambda-sandbox-child.ts');

/** The environment died (killed, crashed, or timed out) before the invocation returned. */
export class SandboxTerminatedError extends Error {
  constructor(
    readonly functionName: string,
    readonly reason: 'killed' | 'crashed' | 'timeout',
  ) {
    super(`${functionName}: execution environment ${reason === 'timeout' ? 'timed out' : reason}`);
    this.name = 'SandboxTerminatedError';
  }
}

/** The handler threw; `name` and `message` are the original error's. */
export class HandlerError extends Error {
  constructor(name: string, message: string, stack?: string) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
  }
}

export interface LambdaSandboxOptions {
  readonly functionName: string;
  /** Absolute path of the handler module (its `handler` export is invoked). */
  readonly handlerPath: string;
  /** Silences the environment's Node warnings. @default false */
  readonly quiet?: boolean;
  /**
   * Receives each line the environment prints (its logs and EMF metrics), as CloudWatch Logs would.
   * @default - printed to this process's stdout and stderr
   */
  readonly onOutput?: (line: string) => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class LambdaSandbox {
  private child: ChildProcess | undefined;
  private ready: Promise<ChildProcess> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Environments started so far (cold starts). */
  coldStarts = 0;

  constructor(private readonly options: LambdaSandboxOptions) {}

  /** Runs the handler with `event`; rejects with {@link HandlerError} or {@link SandboxTerminatedError}. */
  async invoke(event: unknown, timeoutMs: number): Promise<unknown> {
    const child = await this.environment();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.terminate(child, 'timeout'), timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ id, event, timeoutMs });
    });
  }

  /** Kills the environment now; its running invocations never return. */
  kill(): void {
    if (this.child) this.terminate(this.child, 'killed');
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.terminate(child, 'killed');
    await exited;
  }

  private environment(): Promise<ChildProcess> {
    if (this.child && this.ready) return this.ready;
    const child = fork(CHILD, [this.options.handlerPath, this.options.functionName], {
      cwd: PROJECT_ROOT,
      execArgv: ['--import', 'tsx', ...(this.options.quiet ? ['--no-warnings'] : [])],
      env: process.env,
      stdio: ['ignore', this.options.onOutput ? 'pipe' : 'inherit', this.options.onOutput ? 'pipe' : 'inherit', 'ipc'],
    });
    const onOutput = this.options.onOutput;
    if (onOutput) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onOutput);
      }
    }
    this.child = child;
    this.coldStarts++;
    this.ready = new Promise<ChildProcess>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }) => {
        if (message.ready) {
          child.off('exit', onEarlyExit);
          resolve(child);
        }
      };
      const onEarlyExit = (code: number | null) =>
        reject(new Error(`${this.options.functionName}: environment exited (${code}) while starting`));
      child.once('exit', onEarlyExit);
      child.on('message', onMessage);
    });
    child.on(
      'message',
      (message: {
        id?: number;
        ok?: boolean;
        result?: unknown;
        error?: { name: string; message: string; stack?: string };
      }) => {
        if (message.id === undefined) return;
        const entry = this.pending.get(message.id);
        if (!entry) return;
        this.pending.delete(message.id);
        clearTimeout(entry.timer);
        if (message.ok) entry.resolve(message.result);
        else entry.reject(new HandlerError(message.error!.name, message.error!.message, message.error!.stack));
      },
    );
    child.once('exit', () => {
      if (this.child === child) {
        this.child = undefined;
        this.ready = undefined;
      }
      this.failAll('crashed');
    });
    return this.ready;
  }

  private terminate(child: ChildProcess, reason: 'killed' | 'timeout'): void {
    if (this.child === child) {
      this.child = undefined;
      this.ready = undefined;
    }
    this.failAll(reason);
    child.kill('SIGKILL');
  }

  private failAll(reason: 'killed' | 'crashed' | 'timeout'): void {
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new SandboxTerminatedError(this.options.functionName, reason));
    }
  }
}
