/**
 * Accepting a report: validate, record it `QUEUED`, enqueue its job, answer `202` at once.
 *
 * With an `Idempotency-Key`, the key is reserved first (a conditional write that names the new report id), so concurrent
 * or repeated submissions with the same key and body all get the same report for `reports.idempotencyHours`. A replay of
 * a still-`QUEUED` report enqueues its job again: a duplicate job is harmless (the worker's claim is conditional), a lost
 * one would leave the report waiting forever.
 *
 * Every `202` names a report that exists and has a job on the queue, with conditional writes only:
 * - A replay pins the key before it answers; a first submit that fails afterwards frees the key only if nobody has pinned
 *   it, and deletes its report only after freeing the key. Both are conditional writes on the key's item, so either the
 *   report is promised to a replay and kept, or the key is free and the replay starts over as a first submit.
 * - A replay that finds no report (its first submit is slow, or stopped) writes it itself. The first submit's own write
 *   then fails its condition, as does an SDK retry of a write that was applied: a report under our fresh id that holds
 *   this very submission is ours, not a clash.
 *
 * Powertools idempotency is not used for this: it replays the stored response without re-enqueueing a job that was
 * lost, and answers a concurrent duplicate with an "already in progress" error instead of the same report.
 */
import { createHash, randomUUID } from 'node:crypto';
import { METADATA_MAX_DEPTH } from '../../../config/contract';
import type { AppConfig } from '../../../config/schema';
import type { CallbackUrlCheck } from '../callback-url';
import { IdempotencyKeyReusedError, InternalError, ServiceUnavailableError, ValidationError } from '../errors';
import type { Caller } from '../identity';
import { metadataJsonOf, type ReportItem } from './model';
import type { NewReport, ReportQueue, ReportStore } from './ports';

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

export interface SubmitReportDeps {
  repo: ReportStore;
  queue: ReportQueue;
  config: Pick<AppConfig, 'reports'>;
  checkCallbackUrl: (url: string) => Promise<CallbackUrlCheck>;
  now?: () => number;
  newId?: () => string;
}

/** Printable ASCII without spaces, as the IETF Idempotency-Key draft and most APIs accept. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Times a submit starts over when the key it read was freed or taken anew before it could pin it. */
const MAX_KEY_ROUNDS = 3;

export async function submitReport(
  input: SubmitReportInput,
  caller: Pick<Caller, 'userId' | 'plan'>,
  deps: SubmitReportDeps,
): Promise<SubmitReportResult> {
  await validate(input, deps);
  const now = (deps.now ?? Date.now)();
  const newId = deps.newId ?? randomUUID;
  const submission = new Submission(input, caller, deps, now);
  const key = input.idempotencyKey;
  if (key === undefined) return submission.createAndEnqueue(newId());

  const requestHash = submission.requestHash;
  for (let round = 0; round < MAX_KEY_ROUNDS; round++) {
    const reportId = newId();
    const claim = await deps.repo.claimIdempotencyKey(
      caller.userId,
      key,
      { reportId, requestHash },
      now,
      deps.config.reports.idempotencyHours,
    );
    // A record naming our fresh id is our own claim, seen by an SDK retry of a write that was applied.
    if (claim.created || claim.existing.reportId === reportId) return submission.createAndEnqueue(reportId, key);
    if (claim.existing.requestHash !== requestHash) {
      throw new IdempotencyKeyReusedError('Idempotency-Key was already used with a different request body');
    }
    const replayed = await submission.replay(claim.existing.reportId, key);
    if (replayed) return replayed;
  }
  throw new ServiceUnavailableError('Concurrent requests keep changing this Idempotency-Key; retry', {
    retryAfterSeconds: 1,
  });
}

/** One request's attempt to create or replay its report. */
class Submission {
  readonly requestHash: string;
  private readonly metadataJson: string | undefined;

  constructor(
    private readonly input: SubmitReportInput,
    private readonly caller: Pick<Caller, 'userId' | 'plan'>,
    private readonly deps: SubmitReportDeps,
    private readonly now: number,
  ) {
    this.requestHash = requestHashOf(input);
    this.metadataJson = input.metadata === undefined ? undefined : JSON.stringify(input.metadata);
  }

  /** The first submit of this report: write it, enqueue it; on failure leave nothing behind that nobody was promised. */
  async createAndEnqueue(reportId: string, key?: string): Promise<SubmitReportResult> {
    try {
      await this.write(reportId);
      await enqueue(this.deps.queue, reportId);
    } catch (err) {
      await this.abandon(reportId, key).catch(() => undefined);
      throw err;
    }
    return { reportId, status: 'QUEUED', replayed: false };
  }

  /**
   * Answers with the report the key names, enqueueing it again while it is `QUEUED` (writing it first if it is not
   * there yet). Undefined when the key no longer names it: the caller starts over.
   */
  async replay(reportId: string, key: string): Promise<SubmitReportResult | undefined> {
    if (!(await this.deps.repo.pinIdempotencyKey(this.caller.userId, key, reportId, this.now))) return undefined;
    const existing = await this.deps.repo.get(reportId);
    if (!existing) await this.write(reportId);
    if (!existing || existing.status === 'QUEUED') await enqueue(this.deps.queue, reportId);
    return { reportId, status: 'QUEUED', replayed: true };
  }

  private async write(reportId: string): Promise<void> {
    const result = await this.deps.repo.create(this.report(reportId), this.now);
    if (result.created || (result.existing && this.isThisSubmission(result.existing))) return;
    throw new InternalError(`Report id ${reportId} is already taken`);
  }

  /**
   * Frees the key, then deletes the report if it was never started. A pinned key stays, and so does its report: a
   * replay has answered with it (and enqueued it).
   */
  private async abandon(reportId: string, key: string | undefined): Promise<void> {
    const { repo } = this.deps;
    if (key !== undefined && !(await repo.releaseIdempotencyKey(this.caller.userId, key, reportId))) {
      // Not released: pinned if the key still names this report; otherwise it is gone (or names another report).
      if ((await repo.getIdempotencyKey(this.caller.userId, key))?.reportId === reportId) return;
    }
    await repo.deleteUnstarted(reportId);
  }

  private isThisSubmission(item: ReportItem): boolean {
    if (item.userId !== this.caller.userId) return false;
    const metadataJson = metadataJsonOf(item);
    const metadata = metadataJson === undefined ? undefined : (JSON.parse(metadataJson) as Record<string, unknown>);
    return requestHashOf({ prompt: item.prompt, callbackUrl: item.callbackUrl, metadata }) === this.requestHash;
  }

  private report(reportId: string): NewReport {
    return {
      reportId,
      userId: this.caller.userId,
      plan: this.caller.plan,
      prompt: this.input.prompt,
      callbackUrl: this.input.callbackUrl,
      metadataJson: this.metadataJson,
    };
  }
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
  if (input.metadata !== undefined) {
    // Depth first, without recursion: everything after it (size, hashing, storing) recurses into the value.
    if (nestingExceeds(input.metadata, METADATA_MAX_DEPTH)) {
      throw new ValidationError(`metadata: must nest objects and arrays at most ${METADATA_MAX_DEPTH} levels deep`);
    }
    if (Buffer.byteLength(JSON.stringify(input.metadata)) > limits.maxMetadataBytes) {
      throw new ValidationError(`metadata: must be at most ${limits.maxMetadataBytes} bytes of JSON`);
    }
  }
  if (input.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(input.idempotencyKey)) {
    throw new ValidationError('Idempotency-Key: 1 to 255 printable ASCII characters without spaces');
  }
  if (input.callbackUrl !== undefined) {
    const check = await deps.checkCallbackUrl(input.callbackUrl);
    if (!check.ok) throw new ValidationError(`callbackUrl: ${check.reason}`);
  }
}

/**
 * Whether objects and arrays nest deeper than `limit` in `value` (an object or array is one level; a scalar none).
 * Iterative, so no depth of nesting can overflow the stack.
 */
export function nestingExceeds(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

/** Hash of what the client asked for, key order aside, to recognise a reused key with another body. */
export function requestHashOf(input: SubmitReportInput): string {
  const canonical = canonicalJson({
    prompt: input.prompt,
    callbackUrl: input.callbackUrl ?? null,
    metadata: input.metadata ?? null,
  });
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
