/** One request over real HTTP and its whole answer, as a client written from the contract sends and reads it. */

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The whole body. */
  readonly text: string;
  /** The body parsed as JSON (throws when it is not JSON), typed as the caller expects it. */
  json<T = any>(): T;
}

export interface HttpRequest {
  /** Request headers; one whose value is undefined is not sent. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON, with `content-type: application/json` unless `headers` say otherwise; undefined: no body. */
  readonly body?: unknown;
}

/** Sends `method path` to `baseUrl` and reads the whole answer. */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  request: HttpRequest = {},
): Promise<HttpAnswer> {
  const { body } = request;
  const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...request.headers };
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: Object.fromEntries(
      Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}
