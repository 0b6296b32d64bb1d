/**
 * Delivers a finished report's webhook to its `callbackUrl`: target of the EventBridge rule for report events that
 * carry one. Signed per Standard Webhooks; retried with backoff; dead-lettered with the reason when it cannot be
 * delivered. The function fails (and is retried by Lambda) only if it cannot even dead-letter.
 */
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { METRICS } from '../../../config/metrics';
import { REPORT_EVENT_TYPES, type ReportWebhookPayload } from '../../../config/reports';
import { reportsConfig, webhookDeadLetter, webhookSecret } from '../../aws/reports-runtime';
import { createLogger, createMetrics } from '../../core/observability';
import { webhookIdOf } from '../../core/reports/model';
import { deliverWebhook } from '../../core/webhooks';

const logger = createLogger();
const metrics = createMetrics();

/** Kept back from the function's deadline so the dead-letter write always fits. */
const DEAD_LETTER_MARGIN_MS = 3_000;

/** The webhook body of the contract (`ReportWebhookPayload`), as the worker put it on the bus. */
const payloadSchema = z.object({
  type: z.enum(REPORT_EVENT_TYPES),
  reportId: z.string().check(z.minLength(1)),
  status: z.enum(['COMPLETED', 'FAILED', 'CANCELLED']),
  result: z.optional(
    z.object({
      text: z.string(),
      usage: z.object({
        inputTokens: z.number(),
        outputTokens: z.number(),
        cacheReadInputTokens: z.optional(z.number()),
        cacheWriteInputTokens: z.optional(z.number()),
      }),
      costUsd: z.optional(z.number()),
      cached: z.optional(z.literal(true)),
    }),
  ),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  occurredAt: z.string(),
}) satisfies z.ZodMiniType<ReportWebhookPayload>;

/**
 * A report event routed here by the callbacks rule: an EventBridge event (the envelope fields EventBridge always sets)
 * whose `detail` is `ReportEventDetail` with its `callbackUrl`.
 */
const reportCallbackEvent = z.object({
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  'detail-type': z.string(),
  detail: z.object({ payload: payloadSchema, callbackUrl: z.string().check(z.minLength(1)) }),
  'replay-name': z.optional(z.string()),
});

export const handler = async (event: unknown, context: Context): Promise<void> => {
  logger.addContext(context);
  const parsed = z.safeParse(reportCallbackEvent, event);
  if (!parsed.success) {
    logger.error('event without a report payload or callbackUrl ignored', {
      eventId: (event as { id?: unknown } | null)?.id,
    });
    return;
  }
  const { payload, callbackUrl } = parsed.data.detail;
  try {
    const result = await deliverWebhook(
      { url: callbackUrl, webhookId: webhookIdOf(payload.reportId), payload },
      {
        config: reportsConfig(),
        secret: webhookSecret(),
        deadLetter: webhookDeadLetter(),
        deadlineAt: Date.now() + context.getRemainingTimeInMillis() - DEAD_LETTER_MARGIN_MS,
      },
    );
    const outcome = result.delivered ? METRICS.webhooksDelivered : METRICS.webhooksDeadLettered;
    metrics.addMetric(outcome.name, outcome.unit, 1);
    metrics.addMetric(METRICS.webhookAttempts.name, METRICS.webhookAttempts.unit, result.attempts);
    if (result.delivered) logger.info('webhook delivered', { reportId: payload.reportId, attempts: result.attempts });
    else
      logger.warn('webhook dead-lettered', {
        reportId: payload.reportId,
        attempts: result.attempts,
        reason: result.reason,
      });
  } finally {
    metrics.publishStoredMetrics();
  }
};
