/**
 * Local execution environments for one function: child processes that each load the unchanged handler and run the
 * invocations they are sent, one at a time, as Lambda runs them. Used for the queue-driven functions, so that a crash is
 * a real crash: `kill()` ends the processes (SIGKILL) with their invocations half done, exactly what a worker dying
 * mid-job looks like to the rest of the system.
 *
 * Like Lambda: an invocation goes to an idle environment, or starts a new one (a cold start) when none is idle, so the
 * pool grows to the invocations running at once (the event source mapping's concurrency bounds it); an environment is
 * reused while it lives and thrown away on a timeout or a crash, and the next invocation starts a fresh one.
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

type EndReason = 'killed' | 'crashed' | 'timeout';

interface ResultMessage {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: { name: string; message: string; stack?: string };
}

/** One execution environment: a child process running at most one invocation at a time. */
class Environment {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private pending: { id: number; entry: Pending } | undefined;
  private nextId = 1;
  /** Why the environment ended; undefined while it lives. */
  private endReason: EndReason | undefined;

  constructor(
    private readonly options: LambdaSandboxOptions,
    private readonly onEnd: (environment: Environment) => void,
  ) {
    const child = fork(CHILD, [options.handlerPath, options.functionName], {
      cwd: PROJECT_ROOT,
      execArgv: ['--import', 'tsx', ...(options.quiet ? ['--no-warnings'] : [])],
      env: process.env,
      stdio: ['ignore', options.onOutput ? 'pipe' : 'inherit', options.onOutput ? 'pipe' : 'inherit', 'ipc'],
    });
    this.child = child;
    const onOutput = options.onOutput;
    if (onOutput) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onOutput);
      }
    }
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }) => {
        if (!message.ready) return;
        child.off('message', onMessage);
        child.off('exit', onEarlyExit);
        resolve();
      };
      const onEarlyExit = (code: number | null) =>
        reject(new Error(`${options.functionName}: environment exited (${code}) while starting`));
      child.once('exit', onEarlyExit);
      child.on('message', onMessage);
    });
    // Nothing awaits `ready` when the environment is killed while starting.
    this.ready.catch(() => undefined);
    child.on('message', (message: ResultMessage) => {
      const pending = this.pending;
      if (message.id === undefined || !pending || pending.id !== message.id) return;
      this.pending = undefined;
      clearTimeout(pending.entry.timer);
      if (message.ok) pending.entry.resolve(message.result);
      else pending.entry.reject(new HandlerError(message.error!.name, message.error!.message, message.error!.stack));
    });
    child.once('exit', () => this.end('crashed'));
  }

  get alive(): boolean {
    return this.endReason === undefined;
  }

  /** Runs one invocation; the environment must be idle. */
  async invoke(event: unknown, timeoutMs: number): Promise<unknown> {
    try {
      await this.ready;
    } catch (err) {
      // Killed while starting: the invocation ends as one killed mid-flight would.
      if (this.endReason) throw new SandboxTerminatedError(this.options.functionName, this.endReason);
      throw err;
    }
    if (this.endReason) throw new SandboxTerminatedError(this.options.functionName, this.endReason);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.terminate('timeout'), timeoutMs);
      this.pending = { id, entry: { resolve, reject, timer } };
      this.child.send({ id, event, timeoutMs });
    });
  }

  /** Kills the process; a running invocation never returns. */
  terminate(reason: 'killed' | 'timeout'): void {
    this.end(reason);
    this.child.kill('SIGKILL');
  }

  /** Ends the environment once: it leaves its pool, and an invocation still running fails with `reason`. */
  private end(reason: EndReason): void {
    if (this.endReason) return;
    this.endReason = reason;
    this.onEnd(this);
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    clearTimeout(pending.entry.timer);
    pending.entry.reject(new SandboxTerminatedError(this.options.functionName, reason));
  }
}

export class LambdaSandbox {
  /** Every environment alive, busy or idle. */
  private readonly environments = new Set<Environment>();
  /** The idle ones, the most recently used last (reused first, as Lambda keeps warm environments busy). */
  private readonly idle: Environment[] = [];
  /** Processes not yet exited, ended environments included: `close()` waits for them all. */
  private readonly exiting = new Set<Promise<void>>();
  /** Environments started so far (cold starts). */
  coldStarts = 0;

  constructor(private readonly options: LambdaSandboxOptions) {}

  /** Environments alive now (busy or idle). */
  get size(): number {
    return this.environments.size;
  }

  /** Runs the handler with `event`; rejects with {@link HandlerError} or {@link SandboxTerminatedError}. */
  async invoke(event: unknown, timeoutMs: number): Promise<unknown> {
    const environment = this.take();
    try {
      return await environment.invoke(event, timeoutMs);
    } finally {
      if (environment.alive && this.environments.has(environment)) this.idle.push(environment);
    }
  }

  /** Kills every environment now; their running invocations never return. */
  kill(): void {
    for (const environment of this.drain()) environment.terminate('killed');
  }

  /** Kills every environment and returns once each process has exited. */
  async close(): Promise<void> {
    this.kill();
    await Promise.all([...this.exiting]);
  }

  private take(): Environment {
    while (this.idle.length > 0) {
      const environment = this.idle.pop()!;
      if (environment.alive) return environment;
    }
    const environment = new Environment(this.options, (ended) => this.forget(ended));
    this.environments.add(environment);
    const exited = environment.exited.then(() => {
      this.exiting.delete(exited);
    });
    this.exiting.add(exited);
    this.coldStarts++;
    return environment;
  }

  private forget(environment: Environment): void {
    this.environments.delete(environment);
    const at = this.idle.indexOf(environment);
    if (at !== -1) this.idle.splice(at, 1);
  }

  private drain(): Environment[] {
    const environments = [...this.environments];
    this.environments.clear();
    this.idle.length = 0;
    return environments;
  }
}
