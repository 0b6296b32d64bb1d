/**
 * Puts a finished report's `report.completed | report.failed` event on the bus. EventBridge then fans it out to the
 * deploy-time subscribers (API destinations) and, when the report has a `callbackUrl`, to the webhook sender.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { REPORT_EVENT_SOURCE, type ReportEventDetail } from '../../../config/reports';
import { webhookPayloadOf, type ReportItem } from './model';

/** EventBridge refuses entries over 256 KB; result text beyond this is cut from the event (GET returns all of it). */
export const MAX_EVENT_DETAIL_BYTES = 200_000;

export interface ReportEventPublisher {
  publish(report: ReportItem): Promise<void>;
}

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

export class EventBridgeReportPublisher implements ReportEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(report: ReportItem): Promise<void> {
    const detail = reportEventDetail(report);
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: REPORT_EVENT_SOURCE,
            DetailType: detail.payload.type,
            Detail: JSON.stringify(detail),
            Resources: [],
          },
        ],
      }),
    );
    // PutEvents answers 200 even when an entry was refused; the entry says why.
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.find((e) => e.ErrorCode);
      throw new Error(`EventBridge refused the ${detail.payload.type} event of report ${report.reportId}: ${entry?.ErrorCode} ${entry?.ErrorMessage}`);
    }
  }
}
