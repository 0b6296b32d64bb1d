/**
 * Replaying a logged stream (`GET /chat/stream/{requestId}`): the stored bytes of each batch (`sse`, the events exactly as
 * the live client received them) are cut back into events by their `id:` line, and only those after the client's
 * `Last-Event-ID` are sent again. Nothing is re-serialised, so a resumed client reads the same ids and the same bytes.
 *
 * Pure: no I/O. The reads are lambda/aws/stream-log-reader.ts; the follow loop is ./resume.ts.
 */
import { ValidationError } from '../errors';

/** One event of the log: its id, its name, and its bytes as sent (ending with the blank line that dispatched it). */
export interface LoggedEvent {
  readonly id: number;
  readonly event: string;
  readonly bytes: string;
}

/** The stored bytes of one batch could not be read as SSE events with ids; the log is not what its writer writes. */
export class StreamLogFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamLogFormatError';
  }
}

/** Largest id a client may send: the counter is a JavaScript number, and DynamoDB stores it exactly up to this. */
const MAX_EVENT_ID = Number.MAX_SAFE_INTEGER;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Cuts the stored bytes of a batch into its events. Each event is `id: <n>\n`, `event: <name>\n`, `data: …\n` lines and
 * a blank line, as lambda/core/sse.ts `SseWriter` writes them; the writer leaves keep-alive comments out of the log, but
 * a comment line inside a batch is skipped rather than refused (the SSE spec ignores comments wherever they stand).
 */
export function parseLoggedEvents(sse: string): LoggedEvent[] {
  const events: LoggedEvent[] = [];
  let start = 0;
  while (start < sse.length) {
    const end = sse.indexOf('\n\n', start);
    if (end < 0) throw new StreamLogFormatError('a logged batch ends inside an event');
    const bytes = sse.slice(start, end + 2);
    start = end + 2;
    let id: number | undefined;
    let event: string | undefined;
    for (const line of bytes.slice(0, -2).split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('id: ')) id = parseId(line.slice(4));
      else if (line.startsWith('event: ')) event = line.slice(7);
    }
    // A block of comments only is not an event: the client never saw it as one.
    if (id === undefined && event === undefined) continue;
    if (id === undefined) throw new StreamLogFormatError('a logged event has no id');
    const previous = events.at(-1);
    if (previous && id <= previous.id) throw new StreamLogFormatError('logged event ids are not increasing');
    events.push({ id, event: event ?? 'message', bytes });
  }
  return events;
}

function parseId(text: string): number {
  if (!DECIMAL.test(text) || Number(text) > MAX_EVENT_ID)
    throw new StreamLogFormatError('a logged event id is not a counter');
  return Number(text);
}

/** The events with an id greater than `lastEventId` (all of them when it is undefined), in order. */
export function eventsAfter(events: readonly LoggedEvent[], lastEventId: number | undefined): LoggedEvent[] {
  return lastEventId === undefined ? [...events] : events.filter((e) => e.id > lastEventId);
}

/** The events that end a stream: after one of them the writer sends nothing more. */
export const FINAL_EVENTS: ReadonlySet<string> = new Set(['end', 'error']);

/**
 * The id after which to replay: the `Last-Event-ID` header if the request has one, else the `lastEventId` query
 * parameter (for clients that cannot set headers, such as `EventSource` on a first connection); undefined when
 * neither is given, which replays from the start. An empty value counts as not given, as the SSE spec's empty
 * last event ID does. Anything but a non-negative decimal integer is a `400`.
 */
export function lastEventIdOf(header: string | undefined, query: string | undefined): number | undefined {
  const given = header?.trim() ? header : query?.trim() ? query : undefined;
  if (given === undefined) return undefined;
  const text = given.trim();
  if (!DECIMAL.test(text) || Number(text) > MAX_EVENT_ID) {
    const source = header?.trim() ? 'Last-Event-ID' : 'lastEventId';
    throw new ValidationError(`${source} must be the id of an event of the stream (a non-negative integer)`);
  }
  return Number(text);
}
