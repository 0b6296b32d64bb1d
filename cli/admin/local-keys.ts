/**
 * Issuing an API key on the running local cloud (`genai keys create` with no stack named): the local-only
 * `POST /_local/keys` (local/keys-route.ts), authorised by the admin token of the local cloud's owner-only state file.
 * The new key works at once, under its plan's limits, like a key issued on AWS.
 */
import type { LocalCloudState } from '../../local/state-file';
import { CommandError, isConnectionFailure, UnreachableError, UsageError } from '../errors';
import type { IssuedKey } from './aws-keys';

/** The local route's field names, as the command's flags. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = { userId: '--user', plan: '--plan' };

export async function issueLocalApiKey(
  state: LocalCloudState,
  request: { readonly userId: string; readonly plan: string },
  fetchImpl: typeof fetch = fetch,
  now = new Date(),
): Promise<IssuedKey> {
  if (!state.adminToken) {
    throw new CommandError('LOCAL_ADMIN_UNAVAILABLE', 'this local cloud issues no keys; restart it with npm start');
  }
  let res: Response;
  try {
    res = await fetchImpl(new URL('/_local/keys', state.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${state.adminToken}` },
      body: JSON.stringify({ userId: request.userId, plan: request.plan }),
    });
  } catch (err) {
    if (isConnectionFailure(err)) {
      throw new UnreachableError(`cannot reach the local cloud at ${state.url}`, { cause: err });
    }
    throw err;
  }
  const body = (await res.json().catch(() => undefined)) as
    | { key?: string; apiKeyId?: string; error?: { code?: string; message?: string } }
    | undefined;
  if (res.status === 201 && body?.key && body.apiKeyId) {
    return {
      apiKeyId: body.apiKeyId,
      key: body.key,
      userId: request.userId,
      plan: request.plan,
      createdAt: now.toISOString(),
    };
  }
  const code = body?.error?.code ?? `HTTP_${res.status}`;
  const message = body?.error?.message ?? `the local cloud answered ${res.status}`;
  if (code === 'VALIDATION_ERROR') {
    // "plan: must be one of free, pro" → "--plan: must be one of free, pro"
    const field = /^(\w+):/.exec(message)?.[1];
    const flag = field ? FLAG_OF_FIELD[field] : undefined;
    throw new UsageError(flag ? `${flag}${message.slice(field!.length)}` : message, 'keys create');
  }
  throw new CommandError(code, message);
}
