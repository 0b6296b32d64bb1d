/**
 * The local stand-in for Lambda's SQS event source mapping: long-polls a queue, hands batches of up to `batchSize`
 * records to the unchanged handler (an `SQSEvent` with `ApproximateReceiveCount` and the other system attributes),
 * running at most `concurrency` invocations at once (the mapping's `MaximumConcurrency`). One long poll is open at a
 * time, asking for as many messages as the free invocations can take (at most 10, SQS's limit), so a burst arrives in
 * one receive and an idle queue costs one request per `waitTimeSeconds`, whatever the concurrency. After each
 * invocation, as Lambda does with `ReportBatchItemFailures`:
 * - deletes the records that succeeded and leaves the ones listed in `batchItemFailures` (they come back after their
 *   visibility timeout, or sooner if the handler shortened it);
 * - deletes nothing when the handler throws or runs past its timeout (the whole batch comes back).
 * Redrive to the dead-letter queue after `maxReceiveCount` receives is the queue's own business (fauxqs does it).
 *
 * `kill()` plays a crashed worker: polling stops and the function's execution environment is killed with its
 * invocations half done, so their messages are neither deleted nor released and reappear only when their visibility
 * timeout runs out.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { SandboxTerminatedError } from './lambda-sandbox';
import type { LocalQueue } from './sqs';

/** Where the function runs: a `LambdaSandbox` (an execution environment that can be killed). */
export interface FunctionInvoker {
  invoke(event: SQSEvent, timeoutMs: number): Promise<unknown>;
  /** Kills the environment with its running invocations. */
  kill(): void;
}

export interface SqsPollerOptions {
  readonly client: SQSClient;
  readonly queue: LocalQueue;
  /** Runs the function. */
  readonly invoker: FunctionInvoker;
  /** Records per invocation (the event source mapping's `batchSize`). */
  readonly batchSize: number;
  /** The function's timeout. */
  readonly timeoutMs: number;
  /**
   * Invocations running at once (Lambda scales pollers with the queue; a few are plenty on one machine).
   * @default 2
   */
  readonly concurrency?: number;
  /**
   * Long-poll wait per receive, in seconds (a message wakes a waiting poll at once; this only bounds each request).
   * @default 1
   */
  readonly waitTimeSeconds?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** Told about handler errors and failed SQS calls. */
  readonly onError?: (err: unknown) => void;
}

export interface SqsPollerStats {
  invocations: number;
  recordsDeleted: number;
  recordsFailed: number;
  invocationErrors: number;
  /** Invocations whose environment was killed mid-flight. */
  abandoned: number;
  /** Invocations running now. */
  inFlight: number;
}

/** Most messages one ReceiveMessage returns. */
const MAX_RECEIVE = 10;

export class SqsPoller {
  readonly stats: SqsPollerStats = {
    invocations: 0,
    recordsDeleted: 0,
    recordsFailed: 0,
    invocationErrors: 0,
    abandoned: 0,
    inFlight: 0,
  };
  private running = false;
  /** Bumped by `kill()`: invocations of an older generation are abandoned. */
  private generation = 0;
  private polling: Promise<void> = Promise.resolve();
  private readonly receives = new Set<AbortController>();
  private readonly invocations = new Set<Promise<void>>();
  private lastReceiveAt = 0;

  constructor(private readonly options: SqsPollerOptions) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** Most invocations running at once (the event source mapping's maximum concurrency). */
  get concurrency(): number {
    return this.options.concurrency ?? 2;
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.polling = this.loop(this.generation);
    return this;
  }

  /**
   * Stops polling and lets running invocations finish (a graceful scale-in). Unless `queueClosing` (the queue is going
   * away too, so nothing will poll it again), it returns only once its abandoned long polls have expired.
   */
  async stop(options: { queueClosing?: boolean } = {}): Promise<void> {
    this.running = false;
    for (const ac of this.receives) ac.abort();
    await this.polling;
    await Promise.allSettled([...this.invocations]);
    if (!options.queueClosing) await this.outlastAbandonedReceives();
  }

  /** Stops polling at once and kills the execution environment: running invocations end where they are. */
  async kill(): Promise<void> {
    this.running = false;
    this.generation++;
    for (const ac of this.receives) ac.abort();
    this.options.invoker.kill();
    await this.polling;
    await this.outlastAbandonedReceives();
  }

  /**
   * An aborted long poll is still waiting on the server, and would take (and hide for a visibility timeout) the next
   * message that arrives; returning only once it has expired keeps messages for whoever polls next.
   */
  private async outlastAbandonedReceives(): Promise<void> {
    const expiresAt = this.lastReceiveAt + this.waitTimeSeconds * 1000 + 100;
    if (Date.now() < expiresAt) await sleep(expiresAt - Date.now());
  }

  private get waitTimeSeconds(): number {
    return this.options.waitTimeSeconds ?? 1;
  }

  private async loop(generation: number): Promise<void> {
    const { client, queue, batchSize } = this.options;
    const live = () => this.running && generation === this.generation;
    while (live()) {
      // Every invocation busy: the next receive waits for one to end (messages stay in the queue meanwhile).
      while (this.invocations.size >= this.concurrency && live()) await Promise.race(this.invocations);
      if (!live()) break;
      const free = this.concurrency - this.invocations.size;
      const ac = new AbortController();
      this.receives.add(ac);
      this.lastReceiveAt = Date.now();
      let messages: Message[];
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queue.url,
            MaxNumberOfMessages: Math.min(MAX_RECEIVE, free * batchSize),
            WaitTimeSeconds: this.waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: ac.signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (!live()) break;
        this.options.onError?.(err);
        await sleep(250);
        continue;
      } finally {
        this.receives.delete(ac);
      }
      if (messages.length === 0) continue;
      if (!live()) {
        // Received while stopping: hand them straight back rather than sit on them for a visibility timeout.
        if (generation === this.generation) await this.release(messages);
        break;
      }
      for (let i = 0; i < messages.length; i += batchSize) {
        const invocation: Promise<void> = this.invoke(messages.slice(i, i + batchSize)).finally(() =>
          this.invocations.delete(invocation),
        );
        this.invocations.add(invocation);
      }
    }
  }

  private async invoke(messages: Message[]): Promise<void> {
    const { timeoutMs } = this.options;
    const event: SQSEvent = { Records: messages.map((m) => this.toRecord(m)) };
    this.stats.invocations++;
    this.stats.inFlight++;
    let response: SQSBatchResponse | undefined;
    try {
      response = (await this.options.invoker.invoke(event, timeoutMs)) as SQSBatchResponse | undefined;
    } catch (err) {
      // Nothing is deleted: a crashed, killed or timed-out environment, or a handler that threw, retries the batch.
      if (err instanceof SandboxTerminatedError) this.stats.abandoned++;
      else this.stats.invocationErrors++;
      if (!(err instanceof SandboxTerminatedError && err.reason === 'killed')) this.options.onError?.(err);
      return;
    } finally {
      this.stats.inFlight--;
    }
    const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    const succeeded = messages.filter((m) => !failed.has(m.MessageId!));
    this.stats.recordsFailed += messages.length - succeeded.length;
    if (succeeded.length === 0) return;
    try {
      await this.options.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queue.url,
          Entries: succeeded.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      this.stats.recordsDeleted += succeeded.length;
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private async release(messages: Message[]): Promise<void> {
    try {
      await this.options.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.options.queue.url,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      );
    } catch {
      // They come back after their visibility timeout anyway.
    }
  }

  private toRecord(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    const region = this.options.region ?? 'us-east-1';
    return {
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? '000000000000',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
          k,
          {
            dataType: v.DataType ?? 'String',
            stringValue: v.StringValue,
            binaryValue: v.BinaryValue ? Buffer.from(v.BinaryValue).toString('base64') : undefined,
          },
        ]),
      ),
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queue.arn,
      awsRegion: region,
    };
  }
}
