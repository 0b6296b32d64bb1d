/**
 * The local cloud's own endpoints (never deployed): the simulator controls (`/_local/model`), the breakers
 * (`/_local/breakers`) and the webhook receiver (`/_local/webhooks`). They are served at the root of the API's origin,
 * without a key. The playground shows their controls only when {@link LocalTools.detect} finds them.
 */

export type SimulatorMode = 'normal' | 'throttle' | 'error' | 'slow' | 'midstream-error';

export interface ModelBehaviour {
  readonly mode: SimulatorMode;
  readonly ttftMs: number;
  readonly tokensPerSecond: number;
  readonly failRate: number;
}

export interface SimulatorState {
  readonly default: ModelBehaviour;
  readonly models: Readonly<Record<string, ModelBehaviour>>;
}

export interface SimulatorSettings {
  readonly mode: SimulatorMode;
  readonly model?: string;
  readonly ttftMs?: number;
  readonly tokensPerSecond?: number;
  readonly failRate?: number;
}

/** What `GET /_local/breakers` says of one model (lambda/core/breaker/admin.ts `BreakerStatus`). */
export interface BreakerView {
  readonly modelId: string;
  readonly state: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
  readonly trips: number;
  readonly forced: boolean;
  readonly reason?: string;
  readonly retryAfterSeconds?: number;
  readonly window: { readonly calls: number; readonly failures: number; readonly slow: number };
}

/** One delivery the local receiver recorded (local/webhook-receiver.ts `ReceivedWebhook`). */
export interface ReceivedWebhook {
  readonly sequence: number;
  readonly receivedAt: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly verified: boolean;
  readonly verificationError?: string;
  readonly payload?: { readonly type?: string; readonly reportId?: string; readonly status?: string };
}

/** A local endpoint refused or failed; the message is the endpoint's own. */
export class LocalToolsError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'LocalToolsError';
  }
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export class LocalTools {
  private constructor(
    /** Origin of the local cloud, e.g. `http://127.0.0.1:3000`. */
    readonly origin: string,
    /**
     * Callback URL of the local receiver. The local cloud accepts `http` callbacks only to the literal `127.0.0.1`,
     * so a page opened as `localhost` still gets that form.
     */
    readonly webhookReceiverUrl: string,
  ) {}

  /** The local tools of the API at `apiUrl`, or undefined when it is not a local cloud (or cannot be reached). */
  static async detect(apiUrl: string, signal?: AbortSignal): Promise<LocalTools | undefined> {
    let url: URL;
    try {
      url = new URL(apiUrl);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' || !LOOPBACK_NAMES.has(url.hostname)) return undefined;
    try {
      const res = await fetch(new URL('/_local/model', url.origin), { signal, cache: 'no-store' });
      if (!res.ok) return undefined;
      const body = (await res.json()) as Partial<SimulatorState>;
      if (typeof body?.default?.mode !== 'string') return undefined;
    } catch {
      return undefined;
    }
    const receiver = new URL('/_local/webhooks', url.origin);
    receiver.hostname = '127.0.0.1';
    return new LocalTools(url.origin, receiver.href);
  }

  simulator(signal?: AbortSignal): Promise<SimulatorState> {
    return this.request<SimulatorState>('GET', '/_local/model', undefined, signal);
  }

  configure(settings: SimulatorSettings): Promise<SimulatorState> {
    return this.request<SimulatorState>('POST', '/_local/model', settings);
  }

  async breakers(signal?: AbortSignal): Promise<BreakerView[]> {
    return (await this.request<{ breakers: BreakerView[] }>('GET', '/_local/breakers', undefined, signal)).breakers;
  }

  async webhooks(reportId: string, signal?: AbortSignal): Promise<ReceivedWebhook[]> {
    const path = `/_local/webhooks?reportId=${encodeURIComponent(reportId)}`;
    return (await this.request<{ deliveries: ReceivedWebhook[] }>('GET', path, undefined, signal)).deliveries;
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(`${this.origin}${path}`, {
      method,
      signal,
      cache: 'no-store',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const message = (parsed as { error?: { message?: unknown } } | undefined)?.error?.message;
      throw new LocalToolsError(typeof message === 'string' ? message : `${method} ${path}: ${res.status}`, res.status);
    }
    return parsed as T;
  }
}
