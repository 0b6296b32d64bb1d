/**
 * Accepting a report: validate, record it `QUEUED`, enqueue its job, answer `202` at once.
 *
 * With an `Idempotency-Key`, the key is reserved first (a conditional write that names the new report id), so concurrent
 * or repeated submissions with the same key and body all get the same report for `reports.idempotencyHours`. A replay of
 * a still-`QUEUED` report enqueues its job again: a duplicate job is harmless (the worker's claim is conditional), a lost
 * one would leave the report waiting forever.
 *
 * Powertools idempotency is not used for this: it replays the stored response without re-enqueueing a job that was
 * lost, and answers a concurrent duplicate with an "already in progress" error instead of the same report.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AppConfig } from '../../../config/schema';
import type { CallbackUrlCheck } from '../callback-url';
import { IdempotencyKeyReusedError, InternalError, ServiceUnavailableError, ValidationError } from '../errors';
import type { Caller } from '../identity';
import type { ReportRepository } from './repository';

export interface SubmitReportInput {
  prompt: string;
  callbackUrl?: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
}

export interface SubmitReportResult {
  reportId: string;
  status: 'QUEUED';
  /** The `Idempotency-Key` was seen before: this is the report it created. */
  replayed: boolean;
}

/** The job queue; a message is `{"reportId"}` (the prompt stays in the table). */
export interface ReportQueue {
  enqueue(reportId: string): Promise<void>;
}

export class SqsReportQueue implements ReportQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(reportId: string): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify({ reportId }) }));
  }
}

export interface SubmitReportDeps {
  repo: ReportRepository;
  queue: ReportQueue;
  config: Pick<AppConfig, 'reports'>;
  checkCallbackUrl: (url: string) => Promise<CallbackUrlCheck>;
  now?: () => number;
  newId?: () => string;
}

/** Printable ASCII without spaces, as the IETF Idempotency-Key draft and most APIs accept. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export async function submitReport(
  input: SubmitReportInput,
  caller: Pick<Caller, 'userId' | 'plan'>,
  deps: SubmitReportDeps,
): Promise<SubmitReportResult> {
  await validate(input, deps);
  const now = (deps.now ?? Date.now)();
  let reportId = (deps.newId ?? randomUUID)();
  const key = input.idempotencyKey;

  if (key !== undefined) {
    const requestHash = requestHashOf(input);
    const claim = await deps.repo.claimIdempotencyKey(
      caller.userId,
      key,
      { reportId, requestHash },
      now,
      deps.config.reports.idempotencyHours,
    );
    if (!claim.created) {
      if (claim.existing.requestHash !== requestHash) {
        throw new IdempotencyKeyReusedError('Idempotency-Key was already used with a different request body');
      }
      reportId = claim.existing.reportId;
      const existing = await deps.repo.get(reportId);
      // The first request may have stopped between reserving the key and writing the report: finish its work.
      if (!existing) await deps.repo.create(newReport(reportId, input, caller), now);
      if (!existing || existing.status === 'QUEUED') await enqueue(deps.queue, reportId);
      return { reportId, status: 'QUEUED', replayed: true };
    }
  }

  const { created } = await deps.repo.create(newReport(reportId, input, caller), now);
  if (!created) throw new InternalError(`Report id ${reportId} is already taken`);
  try {
    await enqueue(deps.queue, reportId);
  } catch (err) {
    // Not accepted after all: leave nothing behind that would wait forever, and free the key for a retry.
    await deps.repo.deleteUnstarted(reportId);
    if (key !== undefined) await deps.repo.releaseIdempotencyKey(caller.userId, key, reportId);
    throw err;
  }
  return { reportId, status: 'QUEUED', replayed: false };
}

function newReport(reportId: string, input: SubmitReportInput, caller: Pick<Caller, 'userId' | 'plan'>) {
  return {
    reportId,
    userId: caller.userId,
    plan: caller.plan,
    prompt: input.prompt,
    callbackUrl: input.callbackUrl,
    metadata: input.metadata,
  };
}

async function enqueue(queue: ReportQueue, reportId: string): Promise<void> {
  try {
    await queue.enqueue(reportId);
  } catch (err) {
    throw new ServiceUnavailableError('The report could not be queued; retry', { cause: err, retryAfterSeconds: 1 });
  }
}

async function validate(input: SubmitReportInput, deps: SubmitReportDeps): Promise<void> {
  const limits = deps.config.reports;
  if (input.prompt.length > limits.maxPromptChars) {
    throw new ValidationError(`prompt: must be at most ${limits.maxPromptChars} characters`);
  }
  if (input.metadata !== undefined && Buffer.byteLength(JSON.stringify(input.metadata)) > limits.maxMetadataBytes) {
    throw new ValidationError(`metadata: must be at most ${limits.maxMetadataBytes} bytes of JSON`);
  }
  if (input.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(input.idempotencyKey)) {
    throw new ValidationError('Idempotency-Key: 1 to 255 printable ASCII characters without spaces');
  }
  if (input.callbackUrl !== undefined) {
    const check = await deps.checkCallbackUrl(input.callbackUrl);
    if (!check.ok) throw new ValidationError(`callbackUrl: ${check.reason}`);
  }
}

/** Hash of what the client asked for, key order aside, to recognise a reused key with another body. */
export function requestHashOf(input: SubmitReportInput): string {
  const canonical = canonicalJson({ prompt: input.prompt, callbackUrl: input.callbackUrl ?? null, metadata: input.metadata ?? null });
  return createHash('sha256').update(canonical).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
