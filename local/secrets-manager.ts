/**
 * The local stand-in for Secrets Manager's `GetSecretValue` (JSON 1.1, `X-Amz-Target: secretsmanager.GetSecretValue`),
 * reached through `AWS_ENDPOINT_URL_SECRETS_MANAGER`. It holds the webhook signing secret and the API keys of local
 * subscribers, so the functions read them exactly as they do on AWS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalSecret {
  readonly name: string;
  readonly arn: string;
  readonly value: string;
}

export interface LocalSecretsManager {
  readonly url: string;
  /** Adds a secret; returns it with its ARN. */
  put(name: string, value: string): LocalSecret;
  close(): Promise<void>;
}

export async function startLocalSecretsManager(
  options: { host?: string; region?: string } = {},
): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const secrets = new Map<string, LocalSecret>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return reply(400, {
          __type: 'UnknownOperationException',
          message: 'The local Secrets Manager only implements GetSecretValue',
        });
      }
      let secretId: unknown;
      try {
        secretId = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: unknown }).SecretId;
      } catch {
        return reply(400, { __type: 'InvalidRequestException', message: 'Body is not JSON' });
      }
      const secret = typeof secretId === 'string' ? secrets.get(secretId) : undefined;
      if (!secret) {
        return reply(400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
      }
      reply(200, {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: secret.value,
        VersionId: '00000000-0000-0000-0000-000000000001',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Math.floor(Date.now() / 1000),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    put(name, value) {
      const secret = { name, value, arn: `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-local` };
      secrets.set(name, secret);
      secrets.set(secret.arn, secret);
      return secret;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
