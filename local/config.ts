/**
 * Configuration of the local cloud: the same `genai` context the CDK app reads from `cdk.json`, then local defaults
 * that keep recovery short (README.md: an open breaker probes again within seconds), then explicit overrides.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type AppConfig, type AppConfigInput } from '../config/schema';

/** Applied on top of `cdk.json`, below explicit overrides. */
export const LOCAL_DEFAULTS = {
  breaker: { openSeconds: 5, maxOpenSeconds: 20, probeLeaseSeconds: 10 },
  // A dead worker's job is taken over after 31 s, and retries wait at most 15 s (half the visibility timeout), so a
  // report whose model always fails reaches FAILED within 60 s. Callbacks may target http://127.0.0.1 (tests).
  reports: { workerTimeoutSeconds: 30, visibilityTimeoutSeconds: 31 },
  webhooks: { allowLoopbackCallbacks: true },
  // A resumed stream trails the live one by at most a flush interval plus its poll: under 500 ms locally.
  streams: { flushIntervalMs: 250 },
} as const;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars replace. */
export function deepMerge(...layers: unknown[]): Json {
  const out: Json = {};
  for (const layer of layers) {
    if (!isObject(layer)) continue;
    for (const [k, v] of Object.entries(layer)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

/** The `genai` context of `cdk.json`, or `{}` when there is none. */
export function readCdkContext(root = process.cwd()): Json {
  let raw: string;
  try {
    raw = readFileSync(join(root, 'cdk.json'), 'utf8');
  } catch {
    return {};
  }
  const context = (JSON.parse(raw) as { context?: Json }).context?.genai;
  if (typeof context === 'string') return JSON.parse(context) as Json;
  return isObject(context) ? context : {};
}

export function loadLocalConfig(overrides: AppConfigInput = {}, root?: string): AppConfig {
  return parseConfig(deepMerge(readCdkContext(root), LOCAL_DEFAULTS, overrides), 'local configuration');
}
