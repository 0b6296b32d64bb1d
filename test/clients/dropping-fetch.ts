/** A `fetch` for tests that cuts a streamed answer's connection mid-way, as a network drop does. */

/**
 * A `fetch` whose first `POST /chat/stream` answer loses its connection after `deltas` delta events have arrived:
 * the body errors as a reset socket does, and the real connection is closed.
 */
export function droppingFetch(deltas: number): { fetch: typeof fetch; dropped: () => boolean; urls: string[] } {
  let dropped = false;
  const urls: string[] = [];
  const dropping: typeof fetch = async (input, init) => {
    urls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
    const response = await fetch(input, init);
    if (dropped || init?.method !== 'POST' || !String(input).endsWith('/chat/stream') || !response.body)
      return response;
    const upstream = response.body.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await upstream.read();
        if (done) return controller.close();
        seen += decoder.decode(value, { stream: true });
        if ((seen.match(/event: delta/g) ?? []).length >= deltas) {
          // Half of this chunk arrives, then the connection is gone.
          controller.enqueue(value.subarray(0, Math.ceil(value.length / 2)));
          dropped = true;
          await upstream.cancel();
          controller.error(new TypeError('terminated: other side closed'));
          return;
        }
        controller.enqueue(value);
      },
      cancel: (reason) => upstream.cancel(reason),
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return { fetch: dropping, dropped: () => dropped, urls };
}
