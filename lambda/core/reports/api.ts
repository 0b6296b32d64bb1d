/** HTTP-side helpers of the report endpoints: the submit body, headers, and the absolute status URL a `202` points at. */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { submitReportRequestSchema } from '../../../config/contract';
import { ENV } from '../../../config/runtime';
import { ValidationError } from '../errors';
import { headerOf } from '../http';
import { parseJsonBody, parseWith } from '../validation';
import type { SubmitReportInput } from './submit';

/**
 * The `POST /reports` request: body and `Idempotency-Key`. `metadata` is kept exactly as `JSON.parse` made it (zod's
 * copy would lose a `"__proto__"` key), and a number in it that `JSON.parse` could not keep digit for digit is refused
 * rather than silently changed.
 */
export function parseSubmitReportRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>,
): SubmitReportInput {
  const text = event.body && event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const raw = parseJsonBody(text) as Record<string, unknown>;
  const body = parseWith(submitReportRequestSchema, raw);
  if (body.metadata !== undefined) {
    const inexact = inexactNumberPath(text!);
    if (inexact !== undefined) {
      throw new ValidationError(
        `${inexact}: this number cannot be kept exactly as written (more digits than a 64-bit float holds, such as an ` +
          'integer beyond ±2^53); send it as a string',
      );
    }
  }
  return {
    prompt: body.prompt,
    callbackUrl: body.callbackUrl,
    metadata: body.metadata === undefined ? undefined : (raw.metadata as Record<string, unknown>),
    idempotencyKey: headerOf(event.headers, 'idempotency-key'),
  };
}

const MAX_PATH_CHARS = 200;

/**
 * Where, in a JSON text that `JSON.parse` accepted, the first number is whose value as a 64-bit float differs from what
 * is written (`12345678901234567890` reads as `12345678901234567000`; `1e400` as `Infinity`): a path such as
 * `metadata.ids.0`, or undefined when every number is exact. One pass over the text, without recursion.
 */
export function inexactNumberPath(text: string): string | undefined {
  type Frame = { kind: 'object'; key: string; expectKey: boolean } | { kind: 'array'; index: number };
  const frames: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = frames[frames.length - 1];
      if (top?.kind === 'object' && top.expectKey) {
        top.key = JSON.parse(text.slice(i, j + 1)) as string;
        top.expectKey = false;
      }
      i = j + 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
      if (!isExactNumber(text.slice(i, j))) {
        const path = frames.map((f) => (f.kind === 'object' ? f.key : String(f.index))).join('.');
        return path.length > MAX_PATH_CHARS ? `${path.slice(0, MAX_PATH_CHARS)}…` : path;
      }
      i = j;
    } else {
      const top = frames[frames.length - 1];
      if (c === 0x7b /* { */) frames.push({ kind: 'object', key: '', expectKey: true });
      else if (c === 0x5b /* [ */) frames.push({ kind: 'array', index: 0 });
      else if (c === 0x7d /* } */ || c === 0x5d /* ] */) frames.pop();
      else if (c === 0x2c /* , */ && top?.kind === 'array') top.index++;
      else if (c === 0x2c && top?.kind === 'object') top.expectKey = true;
      i++;
    }
  }
  return undefined;
}

const isNumberChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2e /* . */ ||
  c === 0x65 /* e */ ||
  c === 0x45 /* E */ ||
  c === 0x2b /* + */ ||
  c === 0x2d;

/** Whether a JSON number literal denotes exactly the value of the float it parses to (zero's sign aside). */
function isExactNumber(literal: string): boolean {
  const value = Number(literal);
  return Number.isFinite(value) && decimalOf(literal) === decimalOf(String(value));
}

/** A canonical decimal form (`-123e-4`) of a JSON number literal or of `String(number)`. */
function decimalOf(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return literal;
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  return `${sign}${significant}e${BigInt(exponent) - BigInt(fraction.length) + BigInt(digits.length - significant.length)}`;
}

/** The scheme of the API's public URL: API Gateway serves only https; the local cloud says `http` in the environment. */
export function apiUrlScheme(env: NodeJS.ProcessEnv = process.env): 'http' | 'https' {
  return env[ENV.apiUrlScheme] === 'http' ? 'http' : 'https';
}

/** A host name or address, with an optional port: what API Gateway (or the local gateway) puts in `domainName`. */
const DOMAIN_NAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** Zero or more plain path segments, such as a stage (`/v1`) or a custom domain's base path (`/api/v2`). */
const PATH_PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/;

/**
 * The absolute URL of `GET /reports/{id}` on this API, built from what API Gateway says about the stage, never from
 * request headers: the host is `requestContext.domainName` (the execute-api domain or the custom domain), the base path
 * is the path the client called (`requestContext.path`) minus the resource path (the stage on the execute-api domain, the
 * base path mapping on a custom domain), and the scheme is {@link apiUrlScheme}.
 */
export function statusUrlOf(
  event: Pick<APIGatewayProxyEvent, 'resource' | 'requestContext'>,
  reportId: string,
  scheme: 'http' | 'https' = apiUrlScheme(),
): string {
  const ctx = event.requestContext;
  const path = `${basePathOf(event)}/reports/${encodeURIComponent(reportId)}`;
  const host = ctx?.domainName;
  // Without a domain name (never the case behind API Gateway) a relative URL is still right.
  return host && DOMAIN_NAME.test(host) ? `${scheme}://${host}${path}` : path;
}

function basePathOf(event: Pick<APIGatewayProxyEvent, 'resource' | 'requestContext'>): string {
  const ctx = event.requestContext;
  const called = ctx?.path;
  const resource = ctx?.resourcePath ?? event.resource;
  if (called && resource && !resource.includes('{') && called.endsWith(resource)) {
    const prefix = called.slice(0, called.length - resource.length);
    if (PATH_PREFIX.test(prefix)) return prefix;
  }
  const stagePath = `/${ctx?.stage ?? ''}`;
  if (
    ctx?.stage &&
    ctx.stage !== '$default' &&
    ctx.domainName?.includes('.execute-api.') &&
    PATH_PREFIX.test(stagePath)
  ) {
    return stagePath;
  }
  return '';
}
