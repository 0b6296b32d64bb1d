/**
 * Which API a command calls, and with which key: `--url`, else `GENAI_API_URL`, else the running local cloud
 * (local/state-file.ts); `--key`, else `GENAI_API_KEY`, else, for the local cloud only, one of its own keys (the first
 * it lists: the most generous plan's). `--bearer` sends the key as `Authorization: Bearer` instead of `x-api-key`.
 */
import { GenAIClient } from '../clients/typescript/src';
import { readLocalState } from '../local/state-file';
import type { CliContext } from './context';
import { UnreachableError, UsageError } from './errors';

export const URL_ENV = 'GENAI_API_URL';
export const KEY_ENV = 'GENAI_API_KEY';

export interface ApiTarget {
  /** Without a trailing slash, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/v1` or `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly auth: 'x-api-key' | 'bearer';
}

export interface ApiTargetFlags {
  readonly url?: string;
  readonly key?: string;
  readonly bearer?: boolean;
}

function normalizeUrl(raw: string, source: string, command: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `${source} "${raw}" is not a URL (e.g. https://abc.execute-api.eu-west-1.amazonaws.com/v1)`,
      command,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${source} "${raw}" must be an http or https URL`, command);
  }
  if (url.search || url.hash) throw new UsageError(`${source} "${raw}" must have no query or fragment`, command);
  return url.href.replace(/\/+$/, '');
}

export function resolveApiTarget(flags: ApiTargetFlags, env: NodeJS.ProcessEnv, command: string): ApiTarget {
  const auth = flags.bearer ? 'bearer' : 'x-api-key';
  let baseUrl: string;
  let local: ReturnType<typeof readLocalState>;
  if (flags.url !== undefined) baseUrl = normalizeUrl(flags.url, '--url', command);
  else if (env[URL_ENV]) baseUrl = normalizeUrl(env[URL_ENV]!, URL_ENV, command);
  else {
    local = readLocalState(env);
    if (!local) {
      throw new UnreachableError(
        `no API to call: pass --url or set ${URL_ENV}, or start the local cloud with npm start`,
      );
    }
    baseUrl = normalizeUrl(local.url, 'the local state file url', command);
  }
  // An empty variable counts as unset, as shells leave them.
  const apiKey = flags.key ?? (env[KEY_ENV] || undefined) ?? localKeyFor(baseUrl, local ?? readLocalState(env));
  if (apiKey === undefined) throw new UsageError(`--key is required (or set ${KEY_ENV})`, command);
  if (apiKey === '') throw new UsageError('--key is empty', command);
  return { baseUrl, apiKey, auth };
}

/** A key of the local cloud, only when `baseUrl` is that local cloud (its keys must never go anywhere else). */
function localKeyFor(baseUrl: string, local: ReturnType<typeof readLocalState>): string | undefined {
  if (!local?.keys?.length) return undefined;
  const origin = local.url.replace(/\/+$/, '');
  if (baseUrl !== origin && !baseUrl.startsWith(`${origin}/`)) return undefined;
  return local.keys[0]?.key;
}

export function createClient(target: ApiTarget, ctx: Pick<CliContext, 'fetch'>): GenAIClient {
  return new GenAIClient({
    baseUrl: target.baseUrl,
    apiKey: target.apiKey,
    auth: target.auth,
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
  });
}
