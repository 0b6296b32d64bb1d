/** The local response-streaming runtime writes and splits the HTTP prelude the way Lambda and API Gateway do. */
import { PassThrough } from 'node:stream';
import {
  installLambdaGlobals,
  invokeStreaming,
  PRELUDE_DELIMITER,
  readPrelude,
  createContext,
} from '../../local/lambda-runtime';

installLambdaGlobals();

describe('awslambda polyfill', () => {
  it('prefixes the body with the JSON prelude and eight NUL bytes on the first write', async () => {
    const handler = awslambda.streamifyResponse(async (_event, stream) => {
      const http = awslambda.HttpResponseStream.from(stream, {
        statusCode: 201,
        headers: { 'content-type': 'text/plain' },
      });
      http.write('hello ');
      http.end('world');
    });
    const { responseStream, done } = invokeStreaming(handler as never, {}, createContext('t', 1000));
    const chunks: Buffer[] = [];
    responseStream.on('data', (c: Buffer) => chunks.push(c));
    await done;
    await new Promise((r) => responseStream.once('end', r));
    const raw = Buffer.concat(chunks);
    const at = raw.indexOf(PRELUDE_DELIMITER);
    expect(JSON.parse(raw.subarray(0, at).toString())).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'text/plain' },
    });
    expect(raw.subarray(at + 8).toString()).toBe('hello world');
  });

  it('sends the prelude even when the handler ends without writing a body', async () => {
    const stream = new PassThrough();
    const http = awslambda.HttpResponseStream.from(stream, { statusCode: 204 });
    const parsed = readPrelude(stream);
    http.end();
    const { prelude, rest } = await parsed;
    expect(prelude).toEqual({ statusCode: 204 });
    expect(rest.length).toBe(0);
  });

  it('reads a prelude split across chunks, keeping body bytes that came with it', async () => {
    const stream = new PassThrough();
    const parsed = readPrelude(stream);
    stream.write('{"statusCode":200,');
    stream.write(Buffer.concat([Buffer.from('"headers":{}}'), PRELUDE_DELIMITER, Buffer.from('data: 1')]));
    const { prelude, rest } = await parsed;
    expect(prelude).toEqual({ statusCode: 200, headers: {} });
    expect(rest.toString()).toBe('data: 1');
  });

  it('treats output without a prelude as body', async () => {
    const stream = new PassThrough();
    const parsed = readPrelude(stream);
    stream.end('plain text');
    const { prelude, rest } = await parsed;
    expect(prelude).toEqual({});
    expect(rest.toString()).toBe('plain text');
  });

  it('counts the remaining time down from the timeout', () => {
    const ctx = createContext('fn', 5_000);
    expect(ctx.getRemainingTimeInMillis()).toBeGreaterThan(4_000);
    expect(ctx.getRemainingTimeInMillis()).toBeLessThanOrEqual(5_000);
  });
});
