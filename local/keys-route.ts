/**
 * `POST /_local/keys` (local only, never deployed): issues an API key that the running local cloud accepts at once,
 * under its plan's limits, as CreateApiKey, CreateUsagePlanKey and the users table make one on AWS. `genai keys create`
 * calls it when no stack is named.
 *
 * Only with the admin token (`Authorization: Bearer <token>`), which the local cloud hands out in its owner-only state
 * file (local/state-file.ts): any web page the developer opens could otherwise mint keys on their machine, and a
 * request carrying `Authorization` needs a CORS preflight, which this route refuses.
 */
import { timingSafeEqual } from 'node:crypto';
import { generateApiKey, type LocalApiKey, USER_ID_PATTERN, type UsagePlans } from './api-keys';
import type { ExtraRoute } from './gateway';
import { pathOf, replyError, replyJson, replyMethodNotAllowed } from './local-routes';

export const KEYS_PATH = '/_local/keys';

export interface KeysRouteOptions {
  /** The gateway's usage plans, which the new key joins. */
  readonly plans: UsagePlans;
  /** The bearer token callers must send. */
  readonly adminToken: string;
  /** Records a new key where the authorizer finds it (the users table). */
  readonly register: (apiKey: LocalApiKey) => Promise<unknown>;
}

/** `{"userId","plan"}` → `201 {"userId","plan","key","apiKeyId"}`; `400` naming the field; `401` without the token. */
export function keysRoute(options: KeysRouteOptions): ExtraRoute {
  const expected = Buffer.from(`Bearer ${options.adminToken}`);
  return async (req, res, body) => {
    if (pathOf(req) !== KEYS_PATH) return false;
    if (req.method !== 'POST') {
      replyMethodNotAllowed(res, ['POST']);
      return true;
    }
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      replyError(res, 401, 'UNAUTHORIZED', 'send the adminToken of the local state file as Authorization: Bearer …');
      return true;
    }
    const request = readKeyRequest(body, options.plans.planNames());
    if (typeof request === 'string') {
      replyError(res, 400, 'VALIDATION_ERROR', request);
      return true;
    }
    const apiKey = generateApiKey(request.userId, request.plan);
    try {
      await options.register(apiKey);
    } catch (err) {
      replyError(res, 503, 'SERVICE_UNAVAILABLE', `the users table could not be written: ${(err as Error).message}`);
      return true;
    }
    options.plans.add(apiKey);
    replyJson(res, 201, { userId: apiKey.userId, plan: apiKey.plan, key: apiKey.key, apiKeyId: apiKey.apiKeyId });
    return true;
  };
}

/** The request body, or a message naming what is wrong with it. */
function readKeyRequest(body: Buffer, plans: readonly string[]): { userId: string; plan: string } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body: is not valid JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'body: must be a JSON object';
  const { userId, plan, ...rest } = parsed as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return `${unknown[0]}: unknown field (the fields are userId and plan)`;
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    return 'userId: use letters, digits and . _ @ + - (at most 128, starting with a letter or digit)';
  }
  if (typeof plan !== 'string' || !plans.includes(plan)) return `plan: must be one of ${plans.join(', ')}`;
  return { userId, plan };
}
