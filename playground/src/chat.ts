/**
 * The chat tab: one prompt, sent at the same moment to `POST /chat/stream` and `POST /chat`, each in its own pane with
 * the time to its first token (for `/chat`, the whole answer), its total latency, tokens per second and the model that
 * served it. Times are measured here, in the browser, from sending: what a person waits. Stop aborts both requests and
 * cancels the stream on the server (`POST /chat/stream/{requestId}/cancel`), since a closed connection alone does not
 * stop generation on Lambda. "Simulate a dropped connection" cuts the stream's connection; the client resumes it from
 * its last event (`GET /chat/stream/{requestId}`), so the answer ends the same. A finished answer can be rated
 * (`POST /feedback`).
 */
import {
  type ChatRequest,
  type ClientMetrics,
  type GenAIClient,
  GenAIError,
  measureClientMetrics,
} from '../../clients/typescript/src';
import type { ConnectionPanel } from './connection';
import { byId, isAbort, onSubmit, showError, within } from './dom';
import { formatMs, formatRate } from './format';
import { describeError, describeStreamError, statusOf } from './errors';

/** How often the running clocks are redrawn. */
const TICK_MS = 100;

interface Finished {
  readonly requestId: string;
  readonly model: string;
  readonly outputTokens: number;
  /** What the call cost at the API's prices; unset for a model without one. */
  readonly costUsd?: number;
  /** The answer came from the API's response cache. */
  readonly cached?: boolean;
}

/** What tells the two panes apart. */
interface PaneWords {
  /** Starts its status lines: `Streaming: Done in 1.24 s…`. */
  readonly label: string;
  /** The name of its first metric: what the person waits for before seeing anything. */
  readonly ttftLabel: string;
  /** The accessible name of its answer. */
  readonly answerLabel: string;
}

/**
 * One pane: its metrics, status line, answer, error and rating buttons, from the page's `#pane-body` template below
 * the pane's heading.
 */
class Pane {
  private readonly label: string;
  private readonly ttft: HTMLElement;
  private readonly latency: HTMLElement;
  private readonly rate: HTMLElement;
  private readonly model: HTMLElement;
  private readonly status: HTMLElement;
  private readonly answer: HTMLElement;
  private readonly error: HTMLElement;
  private readonly feedback: HTMLElement;
  private readonly feedbackStatus: HTMLElement;
  private readonly ratingButtons: HTMLButtonElement[];
  private sentAt = 0;
  private firstTokenAt?: number;
  private endedAt?: number;
  /** Deltas received: the running count of output tokens until `end` tells the real one. */
  private deltas = 0;
  private rated?: { client: GenAIClient; requestId: string };

  constructor(root: HTMLElement, words: PaneWords) {
    root.append(byId('pane-body', HTMLTemplateElement).content.cloneNode(true));
    const part = (selector: string) => within(root, selector, HTMLElement);
    this.label = words.label;
    part('[data-role="ttft-label"]').textContent = words.ttftLabel;
    this.ttft = part('[data-metric="ttft"]');
    this.latency = part('[data-metric="latency"]');
    this.rate = part('[data-metric="rate"]');
    this.model = part('[data-metric="model"]');
    this.status = part('[data-role="status"]');
    this.answer = part('[data-role="answer"]');
    this.answer.setAttribute('aria-label', words.answerLabel);
    this.error = part('[data-role="error"]');
    this.feedback = part('[data-role="feedback"]');
    this.feedbackStatus = part('[data-role="feedback-status"]');
    this.ratingButtons = [...root.querySelectorAll<HTMLButtonElement>('button[data-rating]')];
    for (const button of this.ratingButtons) button.addEventListener('click', () => void this.submitRating(button));
  }

  get running(): boolean {
    return this.sentAt > 0 && this.endedAt === undefined;
  }

  begin(sentAt: number): void {
    this.sentAt = sentAt;
    this.firstTokenAt = undefined;
    this.endedAt = undefined;
    this.deltas = 0;
    this.rated = undefined;
    this.answer.textContent = '';
    this.answer.setAttribute('aria-busy', 'true');
    this.model.textContent = '–';
    showError(this.error, undefined);
    this.feedback.hidden = true;
    this.feedbackStatus.textContent = '';
    for (const b of this.ratingButtons) {
      b.disabled = false;
      b.setAttribute('aria-pressed', 'false');
    }
    this.setStatus('Waiting for the first token…');
    this.tick(sentAt);
  }

  /** The model the call starts with (streaming `start`). */
  starting(model: string): void {
    this.model.textContent = model;
  }

  /** A streamed delta, received at `at`. */
  append(text: string, at: number): void {
    if (this.firstTokenAt === undefined) {
      this.firstTokenAt = at;
      const metrics = this.show(this.metricsAt(at));
      this.setStatus(`First token after ${formatMs(metrics.ttftMs)}. Receiving…`);
    }
    this.deltas += 1;
    this.answer.append(text);
  }

  setAnswer(text: string): void {
    this.answer.textContent = text;
  }

  /**
   * Redraws the running figures: time to first token until it came, latency until the end, and tokens/s over the
   * deltas so far.
   */
  tick(now: number): void {
    if (this.running) this.show(this.metricsAt(now));
  }

  /** `expectedModel`: the model a call without a fallback would name; unset when unknown. */
  finish(result: Finished, at: number, expectedModel: string | undefined, client: GenAIClient): void {
    this.endedAt = at;
    // A synchronous answer (or a stream without a delta) arrives whole: no first token of its own, TTFT = latency.
    const metrics = this.show(this.metricsAt(at, result.outputTokens));
    this.showModel(result.model, expectedModel, result.cached === true);
    this.answer.setAttribute('aria-busy', 'false');
    const cost = result.costUsd === undefined ? '' : `, $${result.costUsd}`;
    this.setStatus(`Done in ${formatMs(metrics.latencyMs)}: ${result.outputTokens} output tokens${cost}.`);
    this.rated = result.requestId ? { client, requestId: result.requestId } : undefined;
    this.feedback.hidden = !this.rated;
  }

  /** A failure: the partial answer stays, the error names its code. */
  fail(message: string, at: number): void {
    const metrics = this.interrupted(at);
    showError(this.error, message);
    this.setStatus(`Failed after ${formatMs(metrics.latencyMs)}.`);
  }

  stopped(at: number): void {
    const metrics = this.interrupted(at);
    this.setStatus(`Stopped after ${formatMs(metrics.latencyMs)}.`);
  }

  /** The connection dropped and the stream goes on from event `after`. */
  resumed(after: string): void {
    if (this.running) this.setStatus(`Resumed after event ${after}. Receiving…`);
  }

  /** Ends a call that did not finish: what arrived is measured, and without a first token there is no TTFT. */
  private interrupted(at: number): ClientMetrics {
    this.endedAt = at;
    const metrics = this.show(this.metricsAt(at));
    if (this.firstTokenAt === undefined) this.ttft.textContent = '–';
    this.answer.setAttribute('aria-busy', 'false');
    return metrics;
  }

  /**
   * The figures at `at`, as the CLI measures them (`measureClientMetrics`): `outputTokens` is the answer's count once
   * it is known, and until then the deltas received.
   */
  private metricsAt(at: number, outputTokens = this.deltas): ClientMetrics {
    return measureClientMetrics({ sentAt: this.sentAt, firstTokenAt: this.firstTokenAt, doneAt: at, outputTokens });
  }

  private show(metrics: ClientMetrics): ClientMetrics {
    this.ttft.textContent = formatMs(metrics.ttftMs);
    this.latency.textContent = formatMs(metrics.latencyMs);
    this.rate.textContent = formatRate(metrics.tokensPerSecond);
    return metrics;
  }

  /**
   * The serving model, marked when the answer came from the response cache, or when it is not the one the call started
   * with (or the primary): a fallback.
   */
  private showModel(model: string, expected: string | undefined, cached: boolean): void {
    this.model.textContent = model;
    if (cached) {
      this.model.append(badge('cached'));
      this.model.title = `From the response cache: an earlier answer of ${model} to the same request`;
    } else if (model === 'degraded') {
      this.model.append(badge('degraded answer'));
    } else if (expected && model !== expected) {
      this.model.append(badge('fallback'));
      this.model.title = `Fallback: ${expected} did not serve this call`;
    } else {
      this.model.removeAttribute('title');
    }
  }

  private setStatus(text: string): void {
    this.status.textContent = `${this.label}: ${text}`;
  }

  private async submitRating(button: HTMLButtonElement): Promise<void> {
    const target = this.rated;
    const rating = button.dataset.rating;
    if (!target || (rating !== 'up' && rating !== 'down')) return;
    for (const b of this.ratingButtons) b.disabled = true;
    this.feedbackStatus.textContent = 'Sending…';
    try {
      await target.client.feedback({ requestId: target.requestId, rating });
      button.setAttribute('aria-pressed', 'true');
      this.feedbackStatus.textContent = `Thanks: rated ${rating === 'up' ? 'up' : 'down'} (request ${target.requestId}).`;
    } catch (err) {
      for (const b of this.ratingButtons) b.disabled = false;
      this.feedbackStatus.textContent =
        statusOf(err) === 404
          ? 'The API does not know this answer any more (or it belongs to another key); the rating was not recorded.'
          : `The rating was not recorded: ${describeError(err)}`;
    }
  }
}

function badge(text: string): HTMLElement {
  const el = document.createElement('span');
  el.className = 'badge';
  el.textContent = text;
  return el;
}

/**
 * The `fetch` of one run's stream: it passes requests on, and `drop()` cuts the connection in use as a network failure
 * would (the body read fails), without the caller aborting anything.
 */
class DroppableFetch {
  private current?: AbortController;

  readonly fetch: typeof fetch = (input, init) => {
    const connection = new AbortController();
    this.current = connection;
    const signal = init?.signal ? AbortSignal.any([init.signal, connection.signal]) : connection.signal;
    return globalThis.fetch(input, { ...init, signal });
  };

  drop(): void {
    this.current?.abort(new TypeError('The connection was dropped (simulated)'));
  }
}

/** The stream of the run in progress: what Stop cancels and the drop button cuts. */
interface StreamRun {
  readonly client: GenAIClient;
  readonly controller: AbortController;
  readonly connection: DroppableFetch;
  requestId?: string;
  lastEventId?: string;
  done: boolean;
}

export class ChatTab {
  private readonly form = byId('chat-form', HTMLFormElement);
  private readonly prompt = byId('chat-prompt', HTMLTextAreaElement);
  private readonly maxTokens = byId('chat-max-tokens', HTMLInputElement);
  private readonly send = byId('chat-send', HTMLButtonElement);
  private readonly stop = byId('chat-stop', HTMLButtonElement);
  private readonly drop = byId('chat-drop', HTMLButtonElement);
  private readonly connectionNote = byId('chat-connection', HTMLParagraphElement);
  private readonly formError = byId('chat-form-error', HTMLParagraphElement);
  private readonly stream = new Pane(byId('pane-stream', HTMLElement), {
    label: 'Streaming',
    ttftLabel: 'Time to first token',
    answerLabel: 'Streamed answer',
  });
  private readonly sync = new Pane(byId('pane-sync', HTMLElement), {
    label: 'Synchronous',
    ttftLabel: 'Time to answer',
    answerLabel: 'Synchronous answer',
  });
  private controller?: AbortController;
  private streamRun?: StreamRun;
  private ticker?: ReturnType<typeof setInterval>;

  constructor(
    private readonly connection: ConnectionPanel,
    /** Told when a run ends (the simulator tab refreshes the breakers). */
    private readonly onRunEnd: () => void = () => undefined,
  ) {
    onSubmit(this.form, () => this.run());
    this.stop.addEventListener('click', () => this.stopRun());
    this.drop.addEventListener('click', () => this.dropConnection());
  }

  /** Stop: both requests end here, and the stream is cancelled on the server too. */
  private stopRun(): void {
    const run = this.streamRun;
    this.controller?.abort();
    if (run && !run.done && run.requestId) void this.cancelOnServer(run.client, run.requestId);
  }

  private async cancelOnServer(client: GenAIClient, requestId: string): Promise<void> {
    this.connectionNote.textContent = `Cancelling request ${requestId} on the server…`;
    try {
      await client.cancelStream(requestId);
      this.connectionNote.textContent = `Cancelled on the server: the API stopped generating request ${requestId}.`;
    } catch (err) {
      this.connectionNote.textContent =
        err instanceof GenAIError && err.code === 'ALREADY_FINISHED'
          ? `Request ${requestId} had already ended on the server (${err.finalStatus ?? 'finished'}).`
          : `Not cancelled on the server: ${describeError(err)}`;
    }
  }

  private dropConnection(): void {
    const run = this.streamRun;
    if (!run || run.done) return;
    this.connectionNote.textContent = `Connection dropped after event ${run.lastEventId ?? 'none'}; resuming…`;
    run.connection.drop();
  }

  private async run(): Promise<void> {
    const request = this.readRequest();
    if (!request) return;
    const droppable = new DroppableFetch();
    const streamClient = this.connection.client((message) => showError(this.formError, message), droppable.fetch);
    const client = this.connection.client(() => undefined);
    if (!client || !streamClient) return;
    showError(this.formError, undefined);
    this.connectionNote.textContent = '';
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const run: StreamRun = { client: streamClient, controller, connection: droppable, done: false };
    this.streamRun = run;
    this.send.disabled = true;
    this.stop.disabled = false;
    this.drop.disabled = false;

    const sentAt = performance.now();
    this.stream.begin(sentAt);
    this.sync.begin(sentAt);
    clearInterval(this.ticker);
    this.ticker = setInterval(() => {
      const now = performance.now();
      this.stream.tick(now);
      this.sync.tick(now);
    }, TICK_MS);

    const primary = this.connection.primaryModel();
    await Promise.all([
      this.runStream(run, request, primary).finally(() => {
        run.done = true;
        if (this.streamRun === run) this.drop.disabled = true;
      }),
      this.runSync(client, request, controller.signal, primary),
    ]);
    if (this.controller === controller) {
      clearInterval(this.ticker);
      this.send.disabled = false;
      this.stop.disabled = true;
      this.controller = undefined;
    }
    this.onRunEnd();
  }

  private async runStream(run: StreamRun, request: ChatRequest, primary: string | undefined): Promise<void> {
    const pane = this.stream;
    const { client } = run;
    let startModel: string | undefined;
    let requestId: string | undefined;
    let ended = false;
    let resumedAfter: string | undefined;
    const onResume = (info: { lastEventId?: string }) => {
      resumedAfter = info.lastEventId ?? '0';
    };
    try {
      for await (const event of client.chatStream(request, { signal: run.controller.signal, onResume })) {
        const now = performance.now();
        if (resumedAfter !== undefined) {
          this.connectionNote.textContent = `Connection dropped; resumed after event ${resumedAfter}.`;
          pane.resumed(resumedAfter);
          resumedAfter = undefined;
        }
        if (event.id) run.lastEventId = event.id;
        switch (event.type) {
          case 'start':
            startModel = event.model;
            requestId = event.requestId;
            run.requestId = event.requestId;
            pane.starting(event.model);
            break;
          case 'delta':
            pane.append(event.text, now);
            break;
          case 'end':
            ended = true;
            pane.finish(
              {
                requestId: requestId ?? '',
                model: event.model,
                outputTokens: event.usage.outputTokens,
                costUsd: event.costUsd,
                cached: event.cached,
              },
              now,
              // The primary when known: a call that started on a fallback (the primary's breaker open) is one too.
              primary ?? startModel,
              client,
            );
            break;
          case 'error':
            ended = true;
            pane.fail(describeStreamError(event.error), now);
            break;
        }
      }
      if (!ended) pane.fail('The stream closed without an end or error event.', performance.now());
    } catch (err) {
      if (isAbort(err)) pane.stopped(performance.now());
      else pane.fail(describeError(err), performance.now());
    }
  }

  private async runSync(
    client: GenAIClient,
    request: ChatRequest,
    signal: AbortSignal,
    primary: string | undefined,
  ): Promise<void> {
    const pane = this.sync;
    try {
      const answer = await client.chat(request, { signal });
      const now = performance.now();
      pane.setAnswer(answer.text);
      pane.finish(
        {
          requestId: answer.requestId,
          model: answer.model,
          outputTokens: answer.usage.outputTokens,
          costUsd: answer.costUsd,
          cached: answer.cached,
        },
        now,
        primary,
        client,
      );
    } catch (err) {
      if (isAbort(err)) pane.stopped(performance.now());
      else pane.fail(describeError(err), performance.now());
    }
  }

  /** The request from the form, or undefined (with the reason shown) when a field is invalid. */
  private readRequest(): ChatRequest | undefined {
    const message = this.prompt.value.trim();
    if (!message) {
      showError(this.formError, 'Enter a prompt.');
      this.prompt.focus();
      return undefined;
    }
    const raw = this.maxTokens.value.trim();
    if (!raw) return { message };
    const maxTokens = Number(raw);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      showError(this.formError, 'Max tokens must be a whole number of at least 1, or empty.');
      this.maxTokens.focus();
      return undefined;
    }
    return { message, maxTokens };
  }
}
