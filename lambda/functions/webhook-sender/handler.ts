/**
 * Delivers a finished report's webhook to its `callbackUrl`: target of the EventBridge rule for report events that
 * carry one. Signed per Standard Webhooks; retried with backoff; dead-lettered with the reason when it cannot be
 * delivered. The function fails (and is retried by Lambda) only if it cannot even dead-letter.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import type { ReportEventDetail } from '../../../config/reports';
import { createLogger, createMetrics } from '../../core/observability';
import { webhookIdOf } from '../../core/reports/model';
import { reportsConfig, webhookDeadLetter, webhookSecret } from '../../core/reports/runtime';
import { deliverWebhook } from '../../core/webhooks';

const logger = createLogger();
const metrics = createMetrics();

/** Kept back from the function's deadline so the dead-letter write always fits. */
const DEAD_LETTER_MARGIN_MS = 3_000;

export const handler = async (event: EventBridgeEvent<string, ReportEventDetail>, context: Context): Promise<void> => {
  logger.addContext(context);
  const { payload, callbackUrl } = event.detail ?? ({} as Partial<ReportEventDetail>);
  if (!payload?.reportId || !callbackUrl) {
    logger.error('event without a report payload or callbackUrl ignored', { eventId: event.id });
    return;
  }
  try {
    const result = await deliverWebhook(
      { url: callbackUrl, webhookId: webhookIdOf(payload.reportId), payload },
      {
        config: reportsConfig(),
        secret: webhookSecret(),
        deadLetter: webhookDeadLetter,
        deadlineAt: Date.now() + context.getRemainingTimeInMillis() - DEAD_LETTER_MARGIN_MS,
      },
    );
    metrics.addMetric(result.delivered ? 'WebhooksDelivered' : 'WebhooksDeadLettered', MetricUnit.Count, 1);
    metrics.addMetric('WebhookAttempts', MetricUnit.Count, result.attempts);
    if (result.delivered) logger.info('webhook delivered', { reportId: payload.reportId, attempts: result.attempts });
    else logger.warn('webhook dead-lettered', { reportId: payload.reportId, attempts: result.attempts, reason: result.reason });
  } finally {
    metrics.publishStoredMetrics();
  }
};
