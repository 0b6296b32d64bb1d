import { backoffMs, worstCaseBackoffMs, type BackoffPolicy } from '../../config/backoff';

const policy = (jitter: BackoffPolicy['jitter']): BackoffPolicy => ({ baseMs: 1_000, capMs: 10_000, jitter });

describe('backoffMs', () => {
  it('doubles per retry from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((r) => backoffMs(policy('none'), r))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
  });

  it('full jitter waits a random share of the delay, from nothing to all of it', () => {
    expect(backoffMs(policy('full'), 3, { random: () => 0 })).toBe(0);
    expect(backoffMs(policy('full'), 3, { random: () => 0.25 })).toBe(1_000);
    expect(backoffMs(policy('full'), 3, { random: () => 1 })).toBe(4_000);
  });

  it('equal jitter waits between half the delay and all of it', () => {
    expect(backoffMs(policy('equal'), 3, { random: () => 0 })).toBe(2_000);
    expect(backoffMs(policy('equal'), 3, { random: () => 1 })).toBe(4_000);
  });

  it('waits at least what the other side asked for, within the cap, whatever the jitter', () => {
    expect(backoffMs(policy('full'), 1, { random: () => 0, atLeastMs: 5_000 })).toBe(5_000);
    expect(backoffMs(policy('equal'), 1, { random: () => 0, atLeastMs: 60_000 })).toBe(10_000);
  });

  it('sizes the worst case of several retries without jitter', () => {
    expect(worstCaseBackoffMs(policy('equal'), 5)).toBe(1_000 + 2_000 + 4_000 + 8_000 + 10_000);
  });
});
