/**
 * The webhook signing secret from Secrets Manager, through Powertools Parameters: fetched once and cached for a few
 * minutes per execution environment, so a rotation is picked up without a redeploy and steady traffic costs no calls.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { WebhookSecretSource } from '../core/webhooks';

/** How long a fetched secret is used before it is fetched again. */
export const WEBHOOK_SECRET_MAX_AGE_SECONDS = 300;

export function secretsManagerSecret(client: () => SecretsManagerClient, secretId: () => string): WebhookSecretSource {
  let provider: SecretsProvider | undefined;
  return async () => {
    provider ??= new SecretsProvider({ awsSdkV3Client: client() });
    const value = (await provider.get(secretId(), { maxAge: WEBHOOK_SECRET_MAX_AGE_SECONDS }))?.toString().trim();
    if (!value) throw new Error('The webhook signing secret is empty');
    return value;
  };
}
