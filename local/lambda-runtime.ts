/**
 * Just enough of the Lambda Node.js runtime to run the unchanged handlers in one process:
 * - the `awslambda` global (`streamifyResponse`, `HttpResponseStream.from`), which only exists inside Lambda;
 * - a `Context` whose `getRemainingTimeInMillis` counts down from the function's timeout;
 * - invocation, buffered or streaming.
 *
 * `HttpResponseStream.from` behaves like the runtime interface client's (aws-lambda-nodejs-runtime-interface-client,
 * `src/HttpResponseStream.js`): on the first write it emits the JSON prelude `{statusCode, headers, …}` and eight NUL
 * bytes, then the body. The local gateway splits on that delimiter exactly as API Gateway does, so a handler that
 * forgets to call `from` behaves here as it would on AWS.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough, type Writable } from 'node:stream';
import type { Context } from 'aws-lambda';

const STREAMING = Symbol.for('genai.local.streamingHandler');
export const PRELUDE_DELIMITER = Buffer.alloc(8, 0);
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

// Each handler declares its own event type (API Gateway proxy, SQS, EventBridge); the runtime invokes whichever it is
// given with the event the gateway or a poller built for it, as Lambda's runtime does.
// biome-ignore lint/suspicious/noExplicitAny: a handler's parameter type is its own; `unknown` would reject every handler.
export type StreamingHandler = ((event: any, responseStream: Writable, context: Context) => Promise<void>) & {
  [STREAMING]?: true;
};
// biome-ignore lint/suspicious/noExplicitAny: as above.
export type BufferedHandler = (event: any, context: Context) => Promise<unknown>;

/** Wraps a stream so that the HTTP prelude and delimiter precede the first byte of body. */
function httpResponseStreamFrom(stream: Writable, prelude: Record<string, unknown>): Writable {
  const header = Buffer.concat([Buffer.from(JSON.stringify(prelude)), PRELUDE_DELIMITER]);
  let sent = false;
  const originalWrite = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  const originalEnd = stream.end.bind(stream) as (...args: unknown[]) => Writable;
  const sendPrelude = () => {
    if (sent) return;
    sent = true;
    originalWrite(header);
  };
  stream.write = ((...args: unknown[]) => {
    sendPrelude();
    return originalWrite(...args);
  }) as Writable['write'];
  stream.end = ((...args: unknown[]) => {
    if (!stream.writableEnded) sendPrelude();
    return originalEnd(...args);
  }) as Writable['end'];
  (stream as Writable & { setContentType?: (t: string) => void }).setContentType?.(HTTP_INTEGRATION_CONTENT_TYPE);
  return stream;
}

/** Installs the `awslambda` global, as the Lambda runtime does before loading a handler. Idempotent. */
export function installLambdaGlobals(): void {
  // Other libraries (the invoke store Powertools uses) may already have created `awslambda`: extend it, never replace it.
  const g = globalThis as unknown as { awslambda?: Record<string, unknown> };
  const awslambda = (g.awslambda ??= {});
  awslambda.streamifyResponse ??= (handler: StreamingHandler): StreamingHandler => {
    handler[STREAMING] = true;
    return handler;
  };
  awslambda.HttpResponseStream ??= { from: httpResponseStreamFrom };
}

export function isStreamingHandler(handler: unknown): handler is StreamingHandler {
  return typeof handler === 'function' && (handler as StreamingHandler)[STREAMING] === true;
}

export function createContext(functionName: string, timeoutMs: number, now = Date.now()): Context {
  const deadline = now + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The response stream of a streaming invocation, plus the handler's completion. */
export interface StreamingInvocation {
  /** What the handler writes: prelude, delimiter, body. Destroy it to signal that the client went away. */
  readonly responseStream: PassThrough;
  /** Settles when the handler returns. */
  readonly done: Promise<void>;
}

export function invokeStreaming(handler: StreamingHandler, event: unknown, context: Context): StreamingInvocation {
  const responseStream = new PassThrough();
  (responseStream as PassThrough & { setContentType?: (t: string) => void }).setContentType = () => undefined;
  const done = (async () => {
    try {
      await handler(event, responseStream, context);
    } finally {
      if (!responseStream.writableEnded && !responseStream.destroyed) responseStream.end();
    }
  })();
  return { responseStream, done };
}

/**
 * Reads a streaming response's prelude: resolves with the parsed metadata and any body bytes that arrived with it.
 * A stream without the delimiter (the handler never called `HttpResponseStream.from`) is all body, status 200.
 */
export function readPrelude(
  stream: PassThrough,
): Promise<{ prelude: { statusCode?: number; headers?: Record<string, string> }; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const at = buffered.indexOf(PRELUDE_DELIMITER);
      if (at === -1) {
        // A prelude is small JSON starting with `{`; anything else is a body written without one.
        if (buffered[0] !== 0x7b || buffered.length > 64 * 1024) finish({}, buffered);
        return;
      }
      try {
        finish(JSON.parse(buffered.subarray(0, at).toString('utf8')), buffered.subarray(at + PRELUDE_DELIMITER.length));
      } catch {
        finish({}, buffered);
      }
    };
    const onEnd = () => finish({}, buffered);
    const finish = (prelude: object, rest: Buffer) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', reject);
      stream.pause();
      resolve({ prelude, rest });
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    // Destroyed before any prelude (the client left early): resolve rather than wait forever.
    stream.once('close', onEnd);
    stream.once('error', reject);
  });
}
