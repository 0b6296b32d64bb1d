/** The webhook signing secret adapter against the local Secrets Manager: read once, kept for its maximum age. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsManagerSecret } from '../../lambda/aws/webhook-secret';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/secrets-manager';

let secrets: LocalSecretsManager;
let client: SecretsManagerClient;

beforeAll(async () => {
  secrets = await startLocalSecretsManager({ host: '127.0.0.1', region: 'us-east-1' });
  client = new SecretsManagerClient({
    endpoint: secrets.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  client?.destroy();
  await secrets?.close();
});

test('reads the secret once and keeps it, so a delivery costs no Secrets Manager call', async () => {
  const { arn } = secrets.put('signing-cached', 'whsec_first');
  const source = secretsManagerSecret(
    () => client,
    () => arn,
  );
  expect(await source()).toBe('whsec_first');
  secrets.put('signing-cached', 'whsec_rotated');
  // Within its maximum age the value read first is used; a new execution environment reads the rotated one.
  expect(await source()).toBe('whsec_first');
  expect(
    await secretsManagerSecret(
      () => client,
      () => arn,
    )(),
  ).toBe('whsec_rotated');
});

test('an empty secret is an error, never an empty signing key', async () => {
  const { arn } = secrets.put('signing-empty', '  ');
  await expect(
    secretsManagerSecret(
      () => client,
      () => arn,
    )(),
  ).rejects.toThrow('The webhook signing secret is empty');
});
