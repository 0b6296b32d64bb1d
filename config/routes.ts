/**
 * The route table: the single list of endpoints, read by the CDK stack (API Gateway resources, methods, validators,
 * integrations) and by the local gateway (routing, API keys, STREAM vs buffered). Adding a route here adds it in both.
 */
import type { $ZodType } from 'zod/v4/core';
import { chatRequestSchema, feedbackRequestSchema, submitReportRequestSchema } from './contract';

/** Folder name under `lambda/functions/` whose `handler.ts` exports `handler`. */
export type FunctionName =
  | 'chat-stream'
  | 'cancel-stream'
  | 'chat'
  | 'submit-report'
  | 'get-report'
  | 'cancel-report'
  | 'openai-chat'
  | 'models'
  | 'feedback'
  | 'resume-stream'
  | 'authorizer'
  | BackgroundFunctionName;

/** Functions behind no route: the report worker, its dead-letter backstop, and the webhook sender. */
export type BackgroundFunctionName = 'report-worker' | 'report-dlq' | 'webhook-sender';

export interface RouteDefinition {
  /** Stable id, used for construct ids and metric dimensions. */
  readonly id: string;
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path; `{name}` segments are path parameters. */
  readonly path: string;
  readonly functionName: FunctionName;
  /** `STREAM`: Lambda response streaming to the client. `BUFFERED`: the classic proxy integration. */
  readonly transferMode: 'STREAM' | 'BUFFERED';
  /** JSON body schema the gateway validates before invoking the function (the function validates again). */
  readonly requestSchema?: $ZodType;
  /** Request headers API Gateway should accept as declared method parameters. */
  readonly requestHeaders?: readonly string[];
  /** Query string parameters API Gateway should accept as declared (optional) method parameters. */
  readonly requestQueryParameters?: readonly string[];
  /**
   * `openai`: a missing or unknown API key is answered `401` in OpenAI's error shape (`invalid_api_key`). Otherwise
   * `403 {"message":"Forbidden"}`, API Gateway's answer for a missing key.
   */
  readonly errorStyle?: 'openai';
}

export const ROUTES: readonly RouteDefinition[] = [
  {
    id: 'ChatStream',
    method: 'POST',
    path: '/chat/stream',
    functionName: 'chat-stream',
    transferMode: 'STREAM',
    requestSchema: chatRequestSchema,
    requestHeaders: ['Cache-Control'],
  },
  // Resumes a stream of the caller's from the stream log: the events after Last-Event-ID, then the live answer.
  {
    id: 'ResumeChatStream',
    method: 'GET',
    path: '/chat/stream/{requestId}',
    functionName: 'resume-stream',
    transferMode: 'STREAM',
    requestHeaders: ['Last-Event-ID'],
    requestQueryParameters: ['lastEventId'],
  },
  // The owner stops a stream still generating (the stream log's cancel flag); no body.
  {
    id: 'CancelChatStream',
    method: 'POST',
    path: '/chat/stream/{requestId}/cancel',
    functionName: 'cancel-stream',
    transferMode: 'BUFFERED',
  },
  {
    id: 'Chat',
    method: 'POST',
    path: '/chat',
    functionName: 'chat',
    transferMode: 'BUFFERED',
    requestSchema: chatRequestSchema,
    requestHeaders: ['Cache-Control'],
  },
  {
    id: 'SubmitReport',
    method: 'POST',
    path: '/reports',
    functionName: 'submit-report',
    transferMode: 'BUFFERED',
    requestSchema: submitReportRequestSchema,
    requestHeaders: ['Idempotency-Key'],
  },
  { id: 'GetReport', method: 'GET', path: '/reports/{id}', functionName: 'get-report', transferMode: 'BUFFERED' },
  // The owner cancels a report: at once while queued, within about two seconds while running; no body.
  {
    id: 'CancelReport',
    method: 'POST',
    path: '/reports/{id}/cancel',
    functionName: 'cancel-report',
    transferMode: 'BUFFERED',
  },
  // OpenAI-compatible. One STREAM integration answers both `stream: true` (chunks) and plain JSON, as chat-stream
  // answers its pre-commit errors. The body is validated by the function, in OpenAI's error shape.
  {
    id: 'OpenAIChatCompletions',
    method: 'POST',
    path: '/chat/completions',
    functionName: 'openai-chat',
    transferMode: 'STREAM',
    errorStyle: 'openai',
    requestHeaders: ['Cache-Control'],
  },
  {
    id: 'OpenAIModels',
    method: 'GET',
    path: '/models',
    functionName: 'models',
    transferMode: 'BUFFERED',
    errorStyle: 'openai',
  },
  // A rating of one of the caller's own requests (chat, OpenAI chat, reports); others' requests do not exist.
  {
    id: 'Feedback',
    method: 'POST',
    path: '/feedback',
    functionName: 'feedback',
    transferMode: 'BUFFERED',
    requestSchema: feedbackRequestSchema,
  },
];

/** Prefix under which the local cloud serves every route too, as the deployed stage (`…/v1`) is the OpenAI base URL. */
export const OPENAI_BASE_PATH = '/v1';

/** Matches a concrete path against a route path; returns the path parameters, or undefined when it does not match. */
export function matchPath(routePath: string, path: string): Record<string, string> | undefined {
  const want = routePath.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, w] of want.entries()) {
    const segment = got[i] ?? '';
    if (w.startsWith('{') && w.endsWith('}')) {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
      params[w.slice(1, -1)] = value;
    } else if (w !== segment) {
      return undefined;
    }
  }
  return params;
}
