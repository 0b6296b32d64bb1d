/**
 * AWS SDK clients, created once per execution environment and reused across invocations.
 *
 * Endpoints come only from the SDK's own resolution (region, `AWS_ENDPOINT_URL_<SERVICE>`), so the same code talks
 * to AWS in Lambda and to the local stand-ins in `npm start` and the tests.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ENV } from '../../config/runtime';

let bedrock: BedrockRuntimeClient | undefined;
let documentClient: DynamoDBDocumentClient | undefined;

/** Longest wait for the TCP connection to Bedrock (TLS not included); a new connection is rare with keep-alive. */
export const BEDROCK_CONNECTION_TIMEOUT_MS = 3_000;

/**
 * Longest a Bedrock connection may carry no bytes while a call is in flight. It must stay comfortably above every wait
 * the chat core allows between two bytes: the first-token timeout (`chat.ttftTimeoutMs`, 15 s by default) before a
 * stream's first frame, and the whole answer for a synchronous Converse (`chat.syncTimeoutSeconds`, at most 29 s), whose
 * response arrives only when it is complete. Below that, it would cut calls the chat core still waits for; above
 * it, it only catches a connection that died silently mid-stream, sooner than the call's deadline would.
 */
export const BEDROCK_SOCKET_IDLE_TIMEOUT_MS = 120_000;

/** Most concurrent connections to Bedrock per execution environment (one per call in flight). */
const BEDROCK_MAX_SOCKETS = 50;

/**
 * The request handler of the Bedrock Runtime client: HTTP/1.1 with keep-alive, so consecutive calls from a warm
 * execution environment reuse one connection instead of paying a TCP + TLS handshake before every first token.
 *
 * Since client-bedrock-runtime 3.798 the default handler is `NodeHttp2Handler` with `disableConcurrentStreams: true`,
 * and event-stream operations get a single-use HTTP/2 session (smithy-lang/smithy-typescript#1952); the same default
 * "prevents TCP/TLS connection reuse even when the client is a module-scoped singleton in a warm Lambda execution
 * environment" (aws/aws-sdk-js-v3#8279, reported for Kinesis). Every ConverseStream and every Converse call then opens a
 * new connection. Event streams over HTTP/1.1 (chunked) are what the SDK used before 3.798, and Bedrock serves them.
 *
 * Timeouts:
 * - `connectionTimeout`: a connection that cannot be opened fails fast, well inside the first-token timeout, so the
 *   chat core can fall back to another model.
 * - `requestTimeout: 0` (none): in @smithy/node-http-handler 4.x it is a wall-clock limit from the start of the request
 *   until the response headers arrive (and it only logs a warning unless `throwOnRequestTimeout`). For a Converse call
 *   that is the whole generation, so any value would be a second, blunter deadline. The chat core owns the deadlines:
 *   the first-token timeout and the call's deadline abort the request through its `abortSignal`.
 * - `socketTimeout`: an idle timeout on the connection, restarted by any traffic, so a stream that keeps producing
 *   is never cut however long it runs; see {@link BEDROCK_SOCKET_IDLE_TIMEOUT_MS}.
 *
 * The SDK picks the agent by the endpoint's protocol: `https:` on AWS, `http:` for the local simulator.
 */
export function bedrockRequestHandler(): NodeHttpHandler {
  return new NodeHttpHandler({
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: BEDROCK_MAX_SOCKETS }),
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: BEDROCK_MAX_SOCKETS }),
    connectionTimeout: BEDROCK_CONNECTION_TIMEOUT_MS,
    requestTimeout: 0,
    socketTimeout: BEDROCK_SOCKET_IDLE_TIMEOUT_MS,
  });
}

/**
 * Bedrock Runtime. `maxAttempts: 1`: retries and fallbacks are decided by the chat core, inside the call's deadline,
 * so SDK retries must not stack on top of them. The request handler keeps connections alive between calls (see
 * {@link bedrockRequestHandler}).
 */
export function bedrockClient(): BedrockRuntimeClient {
  bedrock ??= new BedrockRuntimeClient({
    region: process.env[ENV.bedrockRegion] || undefined,
    maxAttempts: 1,
    requestHandler: bedrockRequestHandler(),
  });
  return bedrock;
}

/** DynamoDB through the document client (plain JS values, no attribute-value maps). */
export function dynamoDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 3 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}

let sqs: SQSClient | undefined;
let eventBridge: EventBridgeClient | undefined;
let secretsManager: SecretsManagerClient | undefined;

/**
 * SQS. `useQueueUrlAsEndpoint: false`: requests go to the regional endpoint (or `AWS_ENDPOINT_URL_SQS`) rather than to
 * the host inside a queue URL, which is the same on AWS and keeps local queue URLs (`sqs.<region>.localhost`) usable.
 */
export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({ maxAttempts: 3, useQueueUrlAsEndpoint: false });
  return sqs;
}

export function eventBridgeClient(): EventBridgeClient {
  eventBridge ??= new EventBridgeClient({ maxAttempts: 3 });
  return eventBridge;
}

export function secretsManagerClient(): SecretsManagerClient {
  secretsManager ??= new SecretsManagerClient({ maxAttempts: 3 });
  return secretsManager;
}
