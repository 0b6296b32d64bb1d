/**
 * SQS for the local cloud: fauxqs 1.9.2 (the last release that runs on Node 20), on a free loopback port.
 *
 * fauxqs is an ES module only, which a CommonJS process (this project, and Jest without its experimental VM modules)
 * cannot load; so it runs in a small child process of its own, which exits when this process closes its stdin (or dies).
 * It speaks the SQS JSON protocol with visibility timeouts, `ApproximateReceiveCount`, long polling and redrive to a
 * dead-letter queue after `maxReceiveCount` receives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';

const PROJECT_ROOT = join(__dirname, '..');

// Runs in the child: binds to the requested loopback host only (fauxqs' own start helper binds every interface).
const CHILD_SCRIPT = `
const { buildApp } = await import('fauxqs');
const app = buildApp({ logger: false });
const address = await app.listen({ port: Number(process.env.LOCAL_SQS_PORT), host: process.env.LOCAL_SQS_HOST });
process.stdout.write(JSON.stringify({ address }) + '\\n');
const stop = () => app.close().finally(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.on('SIGTERM', stop);
process.stdin.resume();
`;

export interface LocalQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
}

export interface LocalSqs {
  /** `http://127.0.0.1:<port>`: the value of `AWS_ENDPOINT_URL_SQS`. */
  readonly endpoint: string;
  /** A client for the local cloud's own use (explicit endpoint, queue URLs not used as endpoints). */
  readonly client: SQSClient;
  createQueue(name: string, attributes?: Record<string, string>): Promise<LocalQueue>;
  /** Messages visible plus in flight plus delayed. */
  depth(queueUrl: string): Promise<number>;
  /** Receives (and deletes) up to 10 visible messages: for tests that inspect a dead-letter queue. */
  drain(queueUrl: string, waitSeconds?: number): Promise<Message[]>;
  stop(): Promise<void>;
}

export async function startLocalSqs(
  options: { host?: string; region?: string; port?: number } = {},
): Promise<LocalSqs> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOCAL_SQS_HOST: host, LOCAL_SQS_PORT: String(options.port ?? 0), NODE_OPTIONS: '' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let endpoint: string;
  try {
    endpoint = await readAddress(child);
  } catch (err) {
    child.kill();
    throw err;
  }

  const client = new SQSClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    useQueueUrlAsEndpoint: false,
  });

  return {
    endpoint,
    client,
    async createQueue(name, attributes = {}) {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      const { Attributes } = await client.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
      );
      return { name, url: QueueUrl!, arn: Attributes!.QueueArn! };
    },
    async depth(queueUrl) {
      const { Attributes = {} } = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      );
      return (
        Number(Attributes.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
        Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
      );
    },
    async drain(queueUrl, waitSeconds = 0) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      for (const m of Messages)
        await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      return Messages;
    },
    async stop() {
      client.destroy();
      await stopChild(child);
    },
  };
}

function readAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('fauxqs did not start within 20 s')), 20_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`fauxqs exited with code ${code} before it was ready`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const { address } = JSON.parse(line) as { address: string };
        resolve(address.replace('localhost', '127.0.0.1'));
      } catch {
        reject(new Error(`fauxqs said: ${line}`));
      }
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
