/**
 * API keys and usage plans as API Gateway enforces them: a key belongs to one plan; the plan's throttle is a token
 * bucket per key (`rateLimit` tokens per second, `burstLimit` capacity) and its quota a count per key per UTC day.
 * Keys come from `LOCAL_API_KEYS` at start, and later from `POST /_local/keys` (`genai keys create`, local only).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PlanConfig } from '../config/schema';

export interface LocalApiKey {
  readonly userId: string;
  readonly plan: string;
  /** The secret the client sends (`Authorization: Bearer <key>` or `x-api-key`); stored only as its hash. */
  readonly key: string;
  /** What API Gateway puts in `requestContext.identity.apiKeyId`. */
  readonly apiKeyId: string;
}

export class ApiKeySpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeySpecError';
  }
}

/** API Gateway requires key values of at least 20 characters. */
const MIN_KEY_LENGTH = 20;

/** A user id as keys are issued to (`genai keys create --user`): what API Gateway tags and key names accept. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

function keyId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 10);
}

/** A new random key for `userId` on `plan`. */
export function generateApiKey(userId: string, plan: string, prefix = 'local'): LocalApiKey {
  const key = `${prefix}-${plan}-${randomBytes(16).toString('hex')}`;
  return { userId, plan, key, apiKeyId: keyId(key) };
}

/**
 * Parses `LOCAL_API_KEYS` (`userId:plan:key,…`). Without a spec, one demo key per plan is generated.
 * Throws {@link ApiKeySpecError} naming the bad entry.
 */
export function parseApiKeys(spec: string | undefined, plans: Record<string, PlanConfig>): LocalApiKey[] {
  if (!spec?.trim()) return Object.keys(plans).map((plan) => generateApiKey(`demo-${plan}`, plan, 'demo'));
  const seen = new Set<string>();
  return spec
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const parts = entry.split(':');
      if (parts.length !== 3 || parts.some((p) => !p)) {
        throw new ApiKeySpecError(`LOCAL_API_KEYS entry ${i + 1}: expected userId:plan:key`);
      }
      const [userId, plan, key] = parts;
      if (!plans[plan]) {
        throw new ApiKeySpecError(
          `LOCAL_API_KEYS entry ${i + 1}: unknown plan "${plan}" (plans: ${Object.keys(plans).join(', ')})`,
        );
      }
      if (key.length < MIN_KEY_LENGTH) {
        throw new ApiKeySpecError(`LOCAL_API_KEYS entry ${i + 1}: key must be at least ${MIN_KEY_LENGTH} characters`);
      }
      if (seen.has(key)) throw new ApiKeySpecError(`LOCAL_API_KEYS entry ${i + 1}: duplicate key`);
      seen.add(key);
      return { userId, plan, key, apiKeyId: keyId(key) };
    });
}

export type Admission =
  | { allowed: true }
  | { allowed: false; reason: 'forbidden' }
  | { allowed: false; reason: 'throttled' | 'quota'; retryAfterSeconds: number };

interface KeyState {
  tokens: number;
  refilledAt: number;
  day: string;
  used: number;
}

/** The usage-plan side of the local gateway. */
export class UsagePlans {
  private readonly byKey = new Map<string, LocalApiKey>();
  private readonly state = new Map<string, KeyState>();

  constructor(
    keys: readonly LocalApiKey[],
    private readonly plans: Record<string, PlanConfig>,
    private readonly now: () => number = Date.now,
  ) {
    for (const k of keys) this.byKey.set(k.key, k);
  }

  lookup(key: string | undefined): LocalApiKey | undefined {
    return key ? this.byKey.get(key) : undefined;
  }

  /** The names of the plans keys can belong to. */
  planNames(): string[] {
    return Object.keys(this.plans);
  }

  /** Adds a key to its plan, as CreateUsagePlanKey does. Throws {@link ApiKeySpecError} for an unknown plan. */
  add(apiKey: LocalApiKey): void {
    if (!this.plans[apiKey.plan]) {
      throw new ApiKeySpecError(`unknown plan "${apiKey.plan}" (plans: ${this.planNames().join(', ')})`);
    }
    if (this.byKey.has(apiKey.key)) throw new ApiKeySpecError('the key is already in a plan');
    this.byKey.set(apiKey.key, apiKey);
  }

  /** Admits one request for `key`, consuming one throttle token and one unit of the day's quota. */
  admit(key: string | undefined): Admission & { apiKey?: LocalApiKey } {
    const apiKey = this.lookup(key);
    if (!apiKey) return { allowed: false, reason: 'forbidden' };
    const plan = this.plans[apiKey.plan];
    const now = this.now();
    const day = new Date(now).toISOString().slice(0, 10);
    let s = this.state.get(apiKey.key);
    if (!s) {
      s = { tokens: plan.burstLimit, refilledAt: now, day, used: 0 };
      this.state.set(apiKey.key, s);
    }
    s.tokens = Math.min(plan.burstLimit, s.tokens + ((now - s.refilledAt) / 1000) * plan.rateLimit);
    s.refilledAt = now;
    if (s.day !== day) {
      s.day = day;
      s.used = 0;
    }
    if (s.used >= plan.requestsPerDay) {
      const midnight = Date.parse(`${day}T00:00:00.000Z`) + 86_400_000;
      return { allowed: false, reason: 'quota', retryAfterSeconds: Math.ceil((midnight - now) / 1000) };
    }
    if (s.tokens < 1) {
      return { allowed: false, reason: 'throttled', retryAfterSeconds: Math.ceil((1 - s.tokens) / plan.rateLimit) };
    }
    s.tokens -= 1;
    s.used += 1;
    return { allowed: true, apiKey };
  }
}
