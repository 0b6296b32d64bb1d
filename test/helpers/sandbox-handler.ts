/**
 * A function for tests of the local execution environments (local/lambda-sandbox.ts): it waits `waitMs`, then answers
 * with the process it ran in, so a test sees which environment served each invocation.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function handler(event: { waitMs?: number }): Promise<{ pid: number }> {
  await sleep(event.waitMs ?? 0);
  return { pid: process.pid };
}
