/**
 * The local cloud's Bedrock simulator (`local/bedrock-simulator`), run on a worker thread of its own, behind the same
 * synchronous surface (`url`, `stats`, `configure`, `state`, `reset`, `close`) tests and the `/_local/model` route use.
 *
 * The model is another service on AWS: here its timers (time to first token, the pace of tokens) and its frames run on
 * their own event loop, so a busy gateway neither delays the model's first token nor is delayed by its frames.
 *
 * The worker runs the simulator's own modules, bundled once per process (`simulatorBundle`).
 *
 * Each synchronous call is a round trip to the worker: the caller posts the call, then waits on a shared word
 * (`Atomics.wait`) until the worker has written its answer, as JSON, into a shared buffer. The worker answers on its
 * own event loop, so the wait is short (tens of microseconds) and never depends on the caller's event loop.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  SimulatorSettingsError,
  type BedrockSimulatorOptions,
  type SimulatorState,
  type SimulatorStats,
} from './bedrock-simulator';

/** Longest a synchronous call waits for the worker's answer before it fails. */
const CALL_TIMEOUT_MS = 10_000;
/** Room for one answer (the settings or the counters, as JSON). */
const ANSWER_BYTES = 1024 * 1024;

const SIMULATOR_ENTRY = join(__dirname, 'bedrock-simulator', 'index.ts');

let bundled: string | undefined;

/**
 * The simulator's modules as one CommonJS script, its packages left to `require`: a worker evaluates it faster than it
 * could load TypeScript through a loader. Built once per process, in tens of milliseconds, by esbuild's command line
 * (its API would start a build service that outlives the cloud).
 */
function simulatorBundle(): string {
  bundled ??= execFileSync(
    require.resolve('esbuild/bin/esbuild'),
    [
      SIMULATOR_ENTRY,
      '--bundle',
      '--platform=node',
      '--format=cjs',
      `--target=node${process.versions.node.split('.')[0]}`,
      '--packages=external',
      '--log-level=error',
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  return bundled;
}

/** The calls the worker answers, and what each returns. */
type Call = 'stats' | 'state' | 'configure' | 'reset';

// Runs in the worker: evaluates the simulator's bundle (its packages resolved from the project), starts it, then answers
// calls.
const WORKER_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const loaded = { exports: {} };
new Function('module', 'exports', 'require', workerData.bundle)(loaded, loaded.exports, createRequire(workerData.entry));
const { BedrockSimulator } = loaded.exports;
const control = new Int32Array(workerData.control);
const answer = new Uint8Array(workerData.answer);
const encoder = new TextEncoder();
BedrockSimulator.start(workerData.options).then(
  (simulator) => {
    parentPort.on('message', (message) => {
      if (message.close) {
        simulator.close().then(() => parentPort.postMessage({ closed: true }));
        return;
      }
      let reply;
      try {
        const value =
          message.call === 'stats' ? simulator.stats
          : message.call === 'state' ? simulator.state()
          : message.call === 'configure' ? simulator.configure(message.body)
          : simulator.reset();
        reply = { value: value === undefined ? null : value };
      } catch (err) {
        reply = { error: { name: err && err.name, message: err && err.message ? err.message : String(err) } };
      }
      const { written } = encoder.encodeInto(JSON.stringify(reply), answer);
      Atomics.store(control, 1, written);
      Atomics.store(control, 0, 1);
      Atomics.notify(control, 0);
    });
    parentPort.postMessage({ url: simulator.url });
  },
  (err) => parentPort.postMessage({ error: err && err.message ? err.message : String(err) }),
);
`;

export class SimulatorThread {
  private readonly control: Int32Array;
  private readonly answer: Uint8Array;
  private exited = false;
  private readonly decoder = new TextDecoder();
  private closing?: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    /** Base URL for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` or a client's `endpoint`. */
    readonly url: string,
    control: SharedArrayBuffer,
    answer: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    this.answer = new Uint8Array(answer);
    // A worker that fails after starting is a model endpoint gone away: its connections fail, calls here throw.
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      this.exited = true;
    });
  }

  /** Starts the simulator on its worker thread; `random` cannot cross threads and is not accepted. */
  static async start(options: Omit<BedrockSimulatorOptions, 'random'> = {}): Promise<SimulatorThread> {
    const control = new SharedArrayBuffer(8);
    const answer = new SharedArrayBuffer(ANSWER_BYTES);
    const worker = new Worker(WORKER_SCRIPT, {
      eval: true,
      workerData: {
        bundle: simulatorBundle(),
        entry: SIMULATOR_ENTRY,
        options: { host: options.host, port: options.port },
        control,
        answer,
      },
      stdin: false,
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`Bedrock simulator exited (${code}) while starting`)));
        worker.once('message', (message: { url?: string; error?: string }) => {
          if (message.url) resolve(message.url);
          else reject(new Error(`Bedrock simulator: ${message.error}`));
        });
      });
      worker.removeAllListeners('exit');
      return new SimulatorThread(worker, url, control, answer);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  /** The simulator's counters, as they are now (a copy: read it again for newer values). */
  get stats(): SimulatorStats {
    return this.call('stats') as SimulatorStats;
  }

  /**
   * Applies a `POST /_local/model` body (see `BedrockSimulator.configure`); in effect for the next call the model
   * receives.
   * @throws SimulatorSettingsError naming the offending field; the state is then unchanged.
   */
  configure(body: unknown): SimulatorState {
    return this.call('configure', body) as SimulatorState;
  }

  /** A copy of the current settings: the body of `GET /_local/model`. */
  state(): SimulatorState {
    return this.call('state') as SimulatorState;
  }

  /** Default settings, no overrides, counters at zero (`active` keeps counting the streams still open). */
  reset(): void {
    this.call('reset');
  }

  /** Destroys open connections (streams in flight end at once) and ends the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      const closed = new Promise<void>((resolve) => {
        this.worker.on('message', (message: { closed?: boolean }) => message.closed && resolve());
      });
      this.worker.postMessage({ close: true });
      await Promise.race([closed, exited]);
      await this.worker.terminate();
      await exited;
    })();
    return this.closing;
  }

  private call(call: Call, body?: unknown): unknown {
    if (this.closing || this.exited) throw new Error('Bedrock simulator: closed');
    Atomics.store(this.control, 0, 0);
    this.worker.postMessage({ call, body });
    if (Atomics.wait(this.control, 0, 0, CALL_TIMEOUT_MS) === 'timed-out')
      throw new Error(`Bedrock simulator: no answer to ${call} within ${CALL_TIMEOUT_MS} ms`);
    const length = Atomics.load(this.control, 1);
    // TextDecoder does not read shared memory: copy the answer out first.
    const reply = JSON.parse(this.decoder.decode(this.answer.slice(0, length))) as {
      value?: unknown;
      error?: { name?: string; message: string };
    };
    if (reply.error) {
      if (reply.error.name === 'SimulatorSettingsError') throw new SimulatorSettingsError(reply.error.message);
      throw new Error(reply.error.message);
    }
    return reply.value;
  }
}
