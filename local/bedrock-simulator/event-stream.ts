/**
 * Wire framing of `ConverseStream`: binary event-stream messages (`application/vnd.amazon.eventstream`), each a JSON
 * body under `:message-type` / `:event-type` (or `:exception-type`) headers, as the SDK's unmarshaller expects them.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

export const EVENT_STREAM = 'application/vnd.amazon.eventstream';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** An event frame, e.g. `contentBlockDelta`. */
export function eventFrame(type: string, body: object): Uint8Array {
  return frame({ ':message-type': 'event', ':event-type': type, ':content-type': 'application/json' }, body);
}

/** An exception frame, e.g. `modelStreamErrorException`: the SDK throws it from the stream's iterator. */
export function exceptionFrame(type: string, body: object): Uint8Array {
  return frame({ ':message-type': 'exception', ':exception-type': type, ':content-type': 'application/json' }, body);
}

function frame(headers: Record<string, string>, body: object): Uint8Array {
  const tagged = Object.fromEntries(
    Object.entries(headers).map(([k, value]) => [k, { type: 'string' as const, value }]),
  );
  return codec.encode({ headers: tagged, body: fromUtf8(JSON.stringify(body)) });
}
