/** The webhook signing secret from Secrets Manager: a {@link WebhookSecretSource}. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { WebhookSecretSource } from '../core/webhooks';

/** Cached for a few minutes, so a rotation is picked up without a redeploy. */
export function secretsManagerSecret(
  client: () => SecretsManagerClient,
  secretId: () => string,
  options: { ttlMs?: number; now?: () => number } = {},
): WebhookSecretSource {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { value: string; expires: number } | undefined;
  return async () => {
    if (cached && cached.expires > now()) return cached.value;
    const out = await client().send(new GetSecretValueCommand({ SecretId: secretId() }));
    const value = out.SecretString?.trim();
    if (!value) throw new Error('The webhook signing secret is empty');
    cached = { value, expires: now() + ttlMs };
    return value;
  };
}
