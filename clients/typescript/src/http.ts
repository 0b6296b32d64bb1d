/** The one place requests are made: the base URL, the key, the headers, and how a failed request becomes an error. */
import { abortReason } from './abort.js';
import { errorFromResponse, invalidResponse, networkError } from './errors.js';

export interface TransportOptions {
  baseUrl: string;
  apiKey: string;
  auth: 'x-api-key' | 'bearer';
  fetch: typeof fetch;
  headers: Record<string, string>;
}

export interface SendOptions {
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** @default 'application/json' */
  accept?: string;
  signal?: AbortSignal;
}

export class Transport {
  constructor(private readonly options: TransportOptions) {}

  /**
   * Sends one request and returns the answer, whatever its status. A request that got no answer rejects with a
   * `NETWORK_ERROR`, or with the signal's reason when it was aborted.
   */
  async send(method: 'GET' | 'POST', path: string, options: SendOptions = {}): Promise<Response> {
    const headers = new Headers(this.options.headers);
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    headers.set('accept', options.accept ?? 'application/json');
    if (this.options.auth === 'bearer') headers.set('authorization', `Bearer ${this.options.apiKey}`);
    else headers.set('x-api-key', this.options.apiKey);
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers.set('content-type', 'application/json');
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    try {
      return await this.options.fetch(`${this.options.baseUrl}${path}`, init);
    } catch (err) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      throw networkError(err, `${method} ${path}`);
    }
  }

  /** Sends a request and reads a 2xx JSON answer; any other status rejects with its {@link GenAIError}. */
  async json<T>(
    method: 'GET' | 'POST',
    path: string,
    options: SendOptions = {},
  ): Promise<{ body: T; response: Response }> {
    const response = await this.send(method, path, options);
    if (!response.ok) throw await this.failure(response, options.signal);
    const requestId = response.headers.get('x-request-id') ?? undefined;
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      throw networkError(err, `${method} ${path} (reading the answer)`);
    }
    try {
      return { body: JSON.parse(text) as T, response };
    } catch (err) {
      throw invalidResponse(
        `${method} ${path} answered ${response.status} with a body that is not JSON`,
        response.status,
        requestId,
        err,
      );
    }
  }

  /** The error of a non-2xx answer; the signal's reason instead if it aborted while the body was read. */
  async failure(response: Response, signal: AbortSignal | undefined): Promise<unknown> {
    const error = await errorFromResponse(response);
    return signal?.aborted ? abortReason(signal) : error;
  }
}
