/** The local gateway's usage plans behave like API Gateway's: a token bucket per key and a daily quota. */
import { ApiKeySpecError, parseApiKeys, UsagePlans } from '../../local/api-keys';

const plans = {
  free: { rateLimit: 2, burstLimit: 5, requestsPerDay: 8, tokensPerDay: 1000, maxConcurrentRequests: 2 },
  pro: { rateLimit: 50, burstLimit: 100, requestsPerDay: 100_000, tokensPerDay: 1_000_000, maxConcurrentRequests: 20 },
};
const KEY = 'alice-key-000000000000000000';

describe('parseApiKeys', () => {
  it('reads userId:plan:key entries and derives a stable key id', () => {
    const [a, b] = parseApiKeys(`alice:free:${KEY}, bob:pro:bob-key-0000000000000000000`, plans);
    expect(a).toEqual({ userId: 'alice', plan: 'free', key: KEY, apiKeyId: expect.stringMatching(/^[0-9a-f]{10}$/) });
    expect(b.plan).toBe('pro');
    expect(parseApiKeys(`alice:free:${KEY}`, plans)[0].apiKeyId).toBe(a.apiKeyId);
  });

  it('creates one demo key per plan when none are given', () => {
    const keys = parseApiKeys(undefined, plans);
    expect(keys.map((k) => k.plan)).toEqual(['free', 'pro']);
    expect(new Set(keys.map((k) => k.key)).size).toBe(2);
  });

  it.each([
    ['alice:free', /entry 1: expected userId:plan:key/],
    [`alice:gold:${KEY}`, /entry 1: unknown plan "gold"/],
    ['alice:free:short', /entry 1: key must be at least 20 characters/],
    [`a:free:${KEY},b:pro:${KEY}`, /entry 2: duplicate key/],
  ])('rejects %s naming the entry', (spec, message) => {
    expect(() => parseApiKeys(spec, plans)).toThrow(ApiKeySpecError);
    expect(() => parseApiKeys(spec, plans)).toThrow(message);
  });
});

describe('UsagePlans', () => {
  const keys = parseApiKeys(`alice:free:${KEY}`, plans);

  it('refuses unknown and missing keys', () => {
    const up = new UsagePlans(keys, plans);
    expect(up.admit(undefined)).toEqual({ allowed: false, reason: 'forbidden' });
    expect(up.admit('nope')).toEqual({ allowed: false, reason: 'forbidden' });
  });

  it('allows a burst up to burstLimit, then refills at rateLimit per second', () => {
    let now = Date.parse('2026-01-01T10:00:00Z');
    const up = new UsagePlans(keys, plans, () => now);
    const burst = Array.from({ length: 6 }, () => up.admit(KEY).allowed);
    expect(burst).toEqual([true, true, true, true, true, false]);
    now += 499;
    expect(up.admit(KEY)).toMatchObject({ allowed: false, reason: 'throttled' });
    now += 2;
    expect(up.admit(KEY).allowed).toBe(true);
  });

  it('enforces the daily quota until the next UTC day', () => {
    let now = Date.parse('2026-01-01T23:00:00Z');
    const up = new UsagePlans(keys, plans, () => now);
    for (let i = 0; i < 8; i++) {
      now += 1000;
      expect(up.admit(KEY).allowed).toBe(true);
    }
    now += 1000;
    const refused = up.admit(KEY);
    expect(refused).toMatchObject({ allowed: false, reason: 'quota' });
    now = Date.parse('2026-01-02T00:00:01Z');
    expect(up.admit(KEY).allowed).toBe(true);
  });
});
