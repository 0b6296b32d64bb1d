/**
 * A finished report's `report.completed | report.failed` event. EventBridge fans it out to the deploy-time subscribers
 * (API destinations) and, when the report has a `callbackUrl`, to the webhook sender; the publisher is a port
 * ({@link ReportEventPublisher}, on EventBridge in `lambda/aws/report-events.ts`).
 */
import type { ReportEventDetail } from '../../../config/reports';
import { webhookPayloadOf, type ReportItem } from './model';

/** EventBridge refuses entries over 256 KB; result text beyond this is cut from the event (GET returns all of it). */
export const MAX_EVENT_DETAIL_BYTES = 200_000;

/** The event detail of a finished report, cut to fit an EventBridge entry. */
export function reportEventDetail(report: ReportItem): ReportEventDetail {
  const detail: ReportEventDetail = { payload: webhookPayloadOf(report) };
  if (report.callbackUrl) detail.callbackUrl = report.callbackUrl;
  const size = Buffer.byteLength(JSON.stringify(detail));
  const result = detail.payload.result;
  if (size > MAX_EVENT_DETAIL_BYTES && result) {
    const keep = Math.max(0, result.text.length - (size - MAX_EVENT_DETAIL_BYTES) - 64);
    detail.payload = { ...detail.payload, result: { ...result, text: result.text.slice(0, keep) } };
  }
  return detail;
}
