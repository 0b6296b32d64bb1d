/**
 * The reports tab: submit a report (`POST /reports`), watch its status by polling (`reports.waitFor`, which honours
 * `Retry-After`), with the time of each change, and show the result; Cancel report cancels it (`POST
 * /reports/{id}/cancel`: at once while queued, within seconds while running). With the local receiver as the callback, the
 * signed webhook is shown as it arrives, with whether its signature verified.
 */
import { type GenAIClient, GenAIError, type Report } from '../../clients/typescript/src';
import type { ConnectionPanel } from './connection';
import { byId, isAbort, onSubmit, showError } from './dom';
import { formatClock, formatMs } from './format';
import { describeError } from './errors';
import type { LocalTools, ReceivedWebhook } from './local-tools';

/** How long a report is watched before the page stops polling (the API keeps the report). */
const WAIT_TIMEOUT_MS = 15 * 60 * 1000;
/** How often the local receiver is asked for a finished report's webhook, and for how long. */
const WEBHOOK_POLL_MS = 500;
const WEBHOOK_WAIT_MS = 60_000;

export class ReportsTab {
  private readonly form = byId('report-form', HTMLFormElement);
  private readonly prompt = byId('report-prompt', HTMLTextAreaElement);
  private readonly callback = byId('report-callback', HTMLInputElement);
  private readonly useLocal = byId('report-local-receiver', HTMLInputElement);
  private readonly useLocalField = byId('report-local-receiver-field', HTMLDivElement);
  private readonly submit = byId('report-submit', HTMLButtonElement);
  private readonly cancel = byId('report-cancel', HTMLButtonElement);
  private readonly formError = byId('report-form-error', HTMLParagraphElement);
  private readonly reportId = byId('report-id', HTMLParagraphElement);
  private readonly timeline = byId('report-timeline', HTMLOListElement);
  private readonly error = byId('report-error', HTMLParagraphElement);
  private readonly result = byId('report-result', HTMLOutputElement);
  private readonly usage = byId('report-usage', HTMLParagraphElement);
  private readonly webhooks = byId('webhooks-section', HTMLElement);
  private readonly webhooksStatus = byId('webhooks-status', HTMLParagraphElement);
  private readonly webhooksList = byId('webhooks-list', HTMLUListElement);
  private tools?: LocalTools;
  private watching?: AbortController;
  private typedCallback = '';
  /** The report being watched, while it has not ended: what Cancel report cancels. */
  private current?: { client: GenAIClient; reportId: string; submittedAt: number };

  constructor(private readonly connection: ConnectionPanel) {
    onSubmit(this.form, () => this.run());
    this.useLocal.addEventListener('change', () => this.applyLocalReceiver());
    this.cancel.addEventListener('click', () => void this.cancelReport());
  }

  private async cancelReport(): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.cancel.disabled = true;
    try {
      const report = await current.client.reports.cancel(current.reportId);
      // 200: cancelled at once; 202: still RUNNING until the worker stops it, which the watching then shows.
      if (report.status !== 'CANCELLED')
        this.addStatus(
          report.status,
          report.cancelRequestedAt ?? report.updatedAt,
          current.submittedAt,
          'cancel requested (202)',
        );
    } catch (err) {
      if (err instanceof GenAIError && err.code === 'ALREADY_FINISHED')
        showError(
          this.error,
          `Not cancelled: the report had already ended ${err.finalStatus ?? ''}.`.replace(' .', '.'),
        );
      else {
        showError(this.error, `Not cancelled: ${describeError(err)}`);
        if (this.current === current) this.cancel.disabled = false;
      }
    }
  }

  /** Offers the local receiver when the API is a local cloud. */
  setLocalTools(tools: LocalTools | undefined): void {
    this.tools = tools;
    this.useLocalField.hidden = !tools;
    if (!tools && this.useLocal.checked) {
      this.useLocal.checked = false;
      this.applyLocalReceiver();
    } else if (tools && this.useLocal.checked) {
      this.callback.value = tools.webhookReceiverUrl;
    }
  }

  private applyLocalReceiver(): void {
    if (this.useLocal.checked && this.tools) {
      this.typedCallback = this.callback.value;
      this.callback.value = this.tools.webhookReceiverUrl;
      this.callback.readOnly = true;
    } else {
      this.callback.value = this.typedCallback;
      this.callback.readOnly = false;
    }
  }

  private async run(): Promise<void> {
    const prompt = this.prompt.value.trim();
    if (!prompt) {
      showError(this.formError, 'Enter a prompt.');
      this.prompt.focus();
      return;
    }
    const callbackUrl = this.callback.value.trim() || undefined;
    if (callbackUrl !== undefined && !isHttpUrl(callbackUrl)) {
      showError(
        this.formError,
        'The callback URL must be an absolute https URL (the local cloud also takes http://127.0.0.1).',
      );
      this.callback.focus();
      return;
    }
    const client = this.connection.client((message) => showError(this.formError, message));
    if (!client) return;
    showError(this.formError, undefined);
    this.watching?.abort();
    const controller = new AbortController();
    this.watching = controller;
    this.reset();
    this.submit.disabled = true;

    const submittedAt = Date.now();
    let reportId: string;
    try {
      const accepted = await client.reports.create({ prompt, ...(callbackUrl ? { callbackUrl } : {}) });
      reportId = accepted.reportId;
    } catch (err) {
      this.submit.disabled = false;
      showError(this.error, `Not accepted: ${describeError(err)}`);
      return;
    }
    this.submit.disabled = false;
    this.current = { client, reportId, submittedAt };
    this.cancel.disabled = false;
    this.reportId.textContent = `Report ${reportId}`;
    this.addStatus('QUEUED', new Date().toISOString(), submittedAt, 'accepted (202)');
    const tools = this.tools;
    const receiver = tools !== undefined && callbackUrl === tools.webhookReceiverUrl ? tools : undefined;

    let last = 'QUEUED';
    try {
      const report = await client.reports.waitFor(reportId, {
        signal: controller.signal,
        timeoutMs: WAIT_TIMEOUT_MS,
        onProgress: (r) => {
          if (r.status !== last) {
            last = r.status;
            this.addStatus(r.status, r.updatedAt, submittedAt);
          }
        },
      });
      if (report.status !== last) this.addStatus(report.status, report.updatedAt, submittedAt);
      this.showOutcome(report);
    } catch (err) {
      if (!isAbort(err)) showError(this.error, `Stopped watching: ${describeError(err)}`);
      return;
    } finally {
      if (this.current?.reportId === reportId) {
        this.current = undefined;
        this.cancel.disabled = true;
      }
    }
    // A finished report's webhook is on its way (or being retried): watch the local receiver for it.
    if (receiver) await this.watchWebhooks(receiver, reportId, controller.signal);
  }

  private reset(): void {
    this.timeline.replaceChildren();
    showError(this.error, undefined);
    this.result.hidden = true;
    this.result.textContent = '';
    this.usage.textContent = '';
    this.webhooks.hidden = true;
    this.webhooksList.replaceChildren();
    this.webhooksStatus.textContent = '';
  }

  private addStatus(status: string, at: string, submittedAt: number, note?: string): void {
    const item = document.createElement('li');
    const strong = document.createElement('strong');
    strong.textContent = status;
    const time = document.createElement('time');
    time.dateTime = at;
    const since = Date.parse(at) - submittedAt;
    time.textContent = ` ${formatClock(at)}${Number.isFinite(since) ? ` (+${formatMs(Math.max(0, since))})` : ''}`;
    item.append(strong, time);
    if (note) item.append(` ${note}`);
    this.timeline.append(item);
  }

  private showOutcome(report: Report): void {
    if (report.status === 'COMPLETED' && report.result) {
      this.result.textContent = report.result.text;
      this.result.hidden = false;
      const u = report.result.usage;
      this.usage.textContent = u ? `Usage: ${u.inputTokens} input tokens, ${u.outputTokens} output tokens.` : '';
    } else if (report.error) {
      showError(this.error, `${report.status}: ${report.error.code}: ${report.error.message}`);
    } else if (report.status === 'CANCELLED') {
      showError(
        this.error,
        `The report was cancelled${report.cancelledAt ? ` at ${formatClock(report.cancelledAt)}` : ''}.`,
      );
    } else if (report.status !== 'COMPLETED') {
      showError(this.error, `The report ended ${report.status}.`);
    }
  }

  /** Polls the local receiver until a verified delivery of the report's webhook arrived, for a minute at most. */
  private async watchWebhooks(tools: LocalTools, reportId: string, signal: AbortSignal): Promise<void> {
    this.webhooks.hidden = false;
    this.webhooksStatus.textContent = 'Waiting for the webhook…';
    const deadline = Date.now() + WEBHOOK_WAIT_MS;
    let shown = 0;
    while (!signal.aborted && Date.now() < deadline) {
      try {
        const deliveries = await tools.webhooks(reportId, signal);
        for (const d of deliveries.slice(shown)) this.webhooksList.append(deliveryItem(d));
        if (deliveries.length > shown) {
          shown = deliveries.length;
          const last = deliveries[deliveries.length - 1]!;
          this.webhooksStatus.textContent = `${deliveries.length} ${deliveries.length === 1 ? 'delivery' : 'deliveries'} received; the last ${last.verified ? 'verified' : 'did not verify'}.`;
          if (last.verified) return;
        }
      } catch (err) {
        if (isAbort(err)) return;
        this.webhooksStatus.textContent = `The local receiver could not be read: ${describeError(err)}`;
      }
      await sleep(WEBHOOK_POLL_MS, signal);
    }
    if (!signal.aborted && shown === 0) this.webhooksStatus.textContent = 'No webhook arrived.';
  }
}

function deliveryItem(d: ReceivedWebhook): HTMLLIElement {
  const item = document.createElement('li');
  const verdict = document.createElement('span');
  verdict.className = d.verified ? 'verified' : 'unverified';
  verdict.textContent = d.verified ? 'Signature verified' : `Signature not verified: ${d.verificationError ?? ''}`;
  const what = document.createElement('div');
  what.textContent = `${d.payload?.type ?? 'unknown event'}: report ${d.payload?.reportId ?? '?'} ${d.payload?.status ?? ''}`;
  const meta = document.createElement('div');
  meta.className = 'mono';
  meta.textContent = `webhook-id ${d.headers['webhook-id'] ?? '–'} · webhook-timestamp ${d.headers['webhook-timestamp'] ?? '–'} · received ${formatClock(d.receivedAt)}`;
  item.append(verdict, what, meta);
  return item;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
