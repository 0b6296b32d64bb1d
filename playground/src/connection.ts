/**
 * The connection panel: the API URL, the key and how to send it. Values typed in are kept in this tab's
 * sessionStorage (never in the URL, never in localStorage); on load they win over what the page was served with.
 * Every request builds its client from the current values, so a change applies to the next request.
 */
import { GenAIClient } from '../../clients/typescript/src';
import { byId, onSubmit, showStatus } from './dom';
import { describeError } from './errors';
import { LocalTools } from './local-tools';
import type { PageConfig } from './page-config';

type AuthMode = 'x-api-key' | 'bearer';

const STORAGE_PREFIX = 'genai-playground.';

export interface ConnectionListener {
  /** The API URL changed: local tools found at it, or undefined. */
  localTools(tools: LocalTools | undefined): void;
}

export class ConnectionPanel {
  private readonly url = byId('api-url', HTMLInputElement);
  private readonly key = byId('api-key', HTMLInputElement);
  private readonly keyToggle = byId('api-key-toggle', HTMLButtonElement);
  private readonly auth = byId('api-auth', HTMLSelectElement);
  private readonly status = byId('connection-status', HTMLParagraphElement);
  private readonly listeners: ConnectionListener[] = [];
  private detecting?: AbortController;
  /** The first model `GET /models` lists: the configured primary, so any other serving model is a fallback. */
  private primary?: string;
  private tools?: LocalTools;

  constructor(config: PageConfig, pageOrigin: string) {
    this.url.value = stored('apiUrl') ?? config.apiUrl ?? pageOrigin;
    this.key.value = stored('apiKey') ?? config.apiKey ?? '';
    const auth = stored('auth');
    if (auth === 'bearer' || auth === 'x-api-key') this.auth.value = auth;

    this.url.addEventListener('change', () => {
      store('apiUrl', this.url.value.trim());
      this.primary = undefined;
      void this.detectLocalTools();
    });
    this.key.addEventListener('change', () => store('apiKey', this.key.value.trim()));
    this.auth.addEventListener('change', () => store('auth', this.auth.value));
    this.keyToggle.addEventListener('click', () => {
      const show = this.key.type === 'password';
      this.key.type = show ? 'text' : 'password';
      this.keyToggle.textContent = show ? 'Hide' : 'Show';
      this.keyToggle.setAttribute('aria-pressed', String(show));
    });
    onSubmit(byId('connection-form', HTMLFormElement), () => this.check());
  }

  onChange(listener: ConnectionListener): void {
    this.listeners.push(listener);
  }

  /** Looks for the local tools, then checks the key when one is filled in. */
  async start(): Promise<void> {
    await this.detectLocalTools();
    if (this.key.value.trim()) await this.check();
  }

  /** The API base URL as typed, without a trailing slash. */
  apiUrl(): string {
    return this.url.value.trim().replace(/\/+$/, '');
  }

  /** The configured primary model, once a connection check has listed the models. */
  primaryModel(): string | undefined {
    return this.primary;
  }

  localTools(): LocalTools | undefined {
    return this.tools;
  }

  /**
   * A client for the current values. When a field cannot be used: undefined, after `explain` was told which field and
   * why, and that field was focused. `fetch` replaces the browser's (the chat tab's droppable connection).
   */
  client(explain: (message: string) => void, fetch?: typeof globalThis.fetch): GenAIClient | undefined {
    const problem = this.fieldProblem();
    if (problem) {
      explain(problem.message);
      problem.field.focus();
      return undefined;
    }
    return new GenAIClient({
      baseUrl: this.apiUrl(),
      apiKey: this.key.value.trim(),
      auth: this.auth.value as AuthMode,
      ...(fetch ? { fetch } : {}),
    });
  }

  /** Lists the models with the current values: proves the URL and the key, and learns the primary model. */
  async check(): Promise<void> {
    const client = this.client((message) => this.setStatus(message, 'bad'));
    if (!client) return;
    this.setStatus('Checking…');
    try {
      const models = await client.models();
      this.primary = models.data[0]?.id;
      const list = models.data.map((m) => m.id).join(', ');
      this.setStatus(`Connected. Models: ${list || 'none'}.`, 'ok');
    } catch (err) {
      this.primary = undefined;
      this.setStatus(`Not connected: ${describeError(err)}`, 'bad');
    }
  }

  /** The first field that cannot be used, and why. */
  private fieldProblem(): { readonly message: string; readonly field: HTMLElement } | undefined {
    let url: URL;
    try {
      url = new URL(this.apiUrl());
    } catch {
      return { message: 'Enter the API URL (an absolute http or https URL).', field: this.url };
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      return { message: 'The API URL must start with https:// (or http:// locally).', field: this.url };
    if (!this.key.value.trim()) return { message: 'Enter an API key.', field: this.key };
    return undefined;
  }

  private async detectLocalTools(): Promise<void> {
    this.detecting?.abort();
    const controller = new AbortController();
    this.detecting = controller;
    const tools = await LocalTools.detect(this.apiUrl(), controller.signal);
    if (controller.signal.aborted) return;
    this.tools = tools;
    for (const l of this.listeners) l.localTools(tools);
  }

  private setStatus(text: string, tone?: 'ok' | 'bad'): void {
    showStatus(this.status, text, tone);
  }
}

function stored(name: string): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_PREFIX + name) || undefined;
  } catch {
    // Storage can be switched off; the page then works with what it was served.
    return undefined;
  }
}

function store(name: string, value: string): void {
  try {
    if (value) sessionStorage.setItem(STORAGE_PREFIX + name, value);
    else sessionStorage.removeItem(STORAGE_PREFIX + name);
  } catch {
    // As above: nothing is kept, and nothing breaks.
  }
}
