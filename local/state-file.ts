/**
 * How command-line tools find a running local cloud: `npm start` writes what a tool needs to reach it (the endpoints,
 * resource names, region and dummy credentials the functions themselves use, the local API keys, the token of the
 * local-only admin routes) to a small JSON file, readable by its owner only, and removes it when it stops. The tools
 * (`genai`, cli/) read it when they are given no API or AWS resource of their own.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Overrides where the state file is (tests run a local cloud of their own beside a developer's). */
export const LOCAL_STATE_ENV = 'GENAI_LOCAL_STATE';

/** A key the local cloud accepts. Local only: these keys exist in no deployed stack. */
export interface LocalStateKey {
  readonly userId: string;
  readonly plan: string;
  readonly key: string;
}

export interface LocalCloudState {
  /** Base URL of the API. */
  readonly url: string;
  /** The process serving it; a file whose process is gone is stale. */
  readonly pid: number;
  /** The environment the local functions run with: endpoints, table names, region, credentials, configuration. */
  readonly env: Readonly<Record<string, string>>;
  /** The API keys the local cloud was started with (most generous plan first), for local tools given no key. */
  readonly keys?: readonly LocalStateKey[];
  /** Bearer token of the local cloud's admin routes (`POST /_local/keys`, local/keys-route.ts). */
  readonly adminToken?: string;
}

/**
 * The state of a local cloud that this process runs (what `startLocalCloud` returns). Its keys come most generous plan
 * first (highest rate), the one a tool uses when given none, so that its parallel calls stay within the plan.
 */
export function localCloudState(
  cloud: {
    readonly url: string;
    readonly env: Readonly<Record<string, string>>;
    readonly keys: readonly LocalStateKey[];
    readonly adminToken: string;
    readonly config: { readonly plans: Readonly<Record<string, { readonly rateLimit: number }>> };
  },
  pid: number = process.pid,
): LocalCloudState {
  const rate = (k: LocalStateKey) => cloud.config.plans[k.plan]?.rateLimit ?? 0;
  const keys = [...cloud.keys]
    .sort((a, b) => rate(b) - rate(a))
    .map(({ userId, plan, key }) => ({ userId, plan, key }));
  return { url: cloud.url, pid, env: cloud.env, keys, adminToken: cloud.adminToken };
}

export function localStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return env[LOCAL_STATE_ENV] ?? join(__dirname, '..', '.genai-local.json');
}

/**
 * Writes the state owner-only (it holds local API keys and the admin token). Written beside the target and renamed over
 * it, so that a reader never sees half a file and a stale file with wider permissions is replaced rather than reused.
 */
export function writeLocalState(state: LocalCloudState, env: NodeJS.ProcessEnv = process.env): string {
  const path = localStatePath(env);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    // The mode passed at creation is narrowed by the umask only, never widened; make it exact.
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
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
