/**
 * `@serverless-genai/client`: a typed client for the serverless GenAI API, for Node.js 20+ and browsers. It uses only
 * web-standard globals (`fetch`, `ReadableStream`, `TextDecoder`, `AbortController`); webhook verification, which
 * servers need, is the separate entry `@serverless-genai/client/webhooks`.
 *
 * @example
 * import { GenAIClient, GenAIError } from '@serverless-genai/client';
 *
 * const client = new GenAIClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: process.env.GENAI_API_KEY! });
 * for await (const event of client.chatStream({ message: 'Explain circuit breakers in two sentences' })) {
 *   if (event.type === 'delta') process.stdout.write(event.text);
 * }
 */
export {
  type CallOptions,
  type ChatStreamOptions,
  GenAIClient,
  type GenAIClientOptions,
  type ResumePolicy,
  type ResumeStreamOptions,
  type StreamResumeInfo,
} from './client.js';
export { GenAIError, type GenAIErrorCode, type GenAIErrorOptions, parseRetryAfter } from './errors.js';
export { type ClientMetrics, type ClientTimings, measureClientMetrics } from './metrics.js';
export {
  type CreateReportOptions,
  FINISHED_REPORT_STATUSES,
  type ReportsApi,
  type WaitForReportOptions,
} from './reports.js';
export type * from './types.js';
