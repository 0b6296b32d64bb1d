/**
 * How command-line tools find a running local cloud: `npm start` writes what a tool needs to reach it (the endpoints,
 * resource names, region and dummy credentials the functions themselves use) to a small JSON file, and removes it when
 * it stops. The tools read it when they are given no AWS resource of their own.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Overrides where the state file is (tests run a local cloud of their own beside a developer's). */
export const LOCAL_STATE_ENV = 'GENAI_LOCAL_STATE';

export interface LocalCloudState {
  /** Base URL of the API. */
  readonly url: string;
  /** The process serving it; a file whose process is gone is stale. */
  readonly pid: number;
  /** The environment the local functions run with: endpoints, table names, region, credentials, configuration. */
  readonly env: Readonly<Record<string, string>>;
}

export function localStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return env[LOCAL_STATE_ENV] ?? join(__dirname, '..', '.genai-local.json');
}

export function writeLocalState(state: LocalCloudState, env: NodeJS.ProcessEnv = process.env): string {
  const path = localStatePath(env);
  // Owner-only: it holds the local cloud's configuration.
  writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return path;
}

export function removeLocalState(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(localStatePath(env), { force: true });
}

/** The running local cloud, or undefined when none is running (no file, or its process has ended). */
export function readLocalState(env: NodeJS.ProcessEnv = process.env): LocalCloudState | undefined {
  let state: LocalCloudState;
  try {
    state = JSON.parse(readFileSync(localStatePath(env), 'utf8')) as LocalCloudState;
  } catch {
    return undefined;
  }
  return isRunning(state.pid) ? state : undefined;
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
