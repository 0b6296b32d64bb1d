/**
 * A local stand-in for Amazon Bedrock Runtime that the unchanged `@aws-sdk/client-bedrock-runtime` talks to when
 * `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` points at it. It speaks the real wire format (`Converse` as restJson1,
 * `ConverseStream` as binary event-stream frames) and makes latency and failures scriptable, so the breaker, the
 * fallbacks and the streaming path can be exercised deterministically on one machine. It takes text, image, toolUse
 * and toolResult blocks and a `toolConfig`, and answers with a scripted tool call when the request asks for one.
 *
 * One port, two protocols: cleartext HTTP/2 with prior knowledge (the SDK's default request handler for this service,
 * which fails against an HTTP/1 server) and HTTP/1.1 with keep-alive (the handler `lambda/aws/clients.ts` gives the
 * client). Each connection is dispatched on its first bytes, and both protocols answer through the same code.
 *
 * - `server.ts`: the port, protocol dispatch, routing and counters;
 * - `protocol.ts`: telling HTTP/2 from HTTP/1.1 by the connection preface;
 * - `exchange.ts`, `call.ts`: one request/response over either protocol, guarded once the client is gone;
 * - `event-stream.ts`: the binary frames of `ConverseStream`;
 * - `settings.ts`: modes, pacing and the `/_local/model` body;
 * - `request.ts`, `answer.ts`, `text.ts`: request validation, failure injection and the generated text;
 * - `tools.ts`: when a request gets a tool call, which tool, and its input.
 *
 * @example
 * const sim = await BedrockSimulator.start();
 * process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = sim.url;
 * sim.configure({ mode: 'throttle', model: 'us.anthropic.claude-sonnet-4-20250514-v1:0' });
 */
export { BedrockSimulator, type BedrockSimulatorOptions, type SimulatorStats } from './server';
export type { SimulatorProtocol } from './protocol';
export { SimulatorSettingsError, type ModelBehaviour, type SimulatorMode, type SimulatorState } from './settings';
export { generateTokens, mulberry32 } from './text';
