/**
 * What aborts one model attempt (`AttemptControl`): its deadline, and only its deadline, however far away it is.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AttemptControl, delayUntil, MAX_TIMER_DELAY_MS } from '../../lambda/core/model-attempt';

const DAY_MS = 86_400_000;

describe('AttemptControl', () => {
  it('aborts at the call’s deadline, as a deadline', async () => {
    const now = Date.now();
    const control = new AttemptControl({ deadlineAt: now + 20 }, undefined, 'model-a', now);
    expect(control.aborted).toBe(false);
    await sleep(60);
    expect(control.signal.aborted).toBe(true);
    expect((control.explain(new Error('aborted')) as Error).name).toBe('DeadlineExceededError');
    control.finish();
  });

  it('does not abort early for a deadline beyond what a Node.js timer holds (it would fire after 1 ms)', async () => {
    const now = Date.now();
    const control = new AttemptControl({ deadlineAt: now + 30 * DAY_MS }, undefined, 'model-a', now);
    await sleep(30);
    expect(control.signal.aborted).toBe(false);
    control.finish();
  });
});

describe('delayUntil', () => {
  it('is the time left, never negative, and at most the longest timer delay', () => {
    expect(delayUntil(1_500, 1_000)).toBe(500);
    expect(delayUntil(1_000, 1_500)).toBe(0);
    expect(delayUntil(100 * DAY_MS, 0)).toBe(MAX_TIMER_DELAY_MS);
  });
});
