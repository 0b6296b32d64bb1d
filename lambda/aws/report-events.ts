/** The report event publisher on EventBridge: one `PutEvents` entry per finished report. */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { REPORT_EVENT_SOURCE } from '../../config/reports';
import { reportEventDetail } from '../core/reports/events';
import type { ReportItem } from '../core/reports/model';
import type { ReportEventPublisher } from '../core/reports/ports';

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
      throw new Error(
        `EventBridge refused the ${detail.payload.type} event of report ${report.reportId}: ${entry?.ErrorCode} ${entry?.ErrorMessage}`,
      );
    }
  }
}
