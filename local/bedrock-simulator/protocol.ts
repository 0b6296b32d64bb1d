/**
 * One port, two protocols: each connection is dispatched on its first bytes. Cleartext HTTP/2 with prior knowledge
 * (the SDK's default request handler for Bedrock Runtime) starts with the connection preface; anything else is HTTP/1.1.
 */
import type { Socket } from 'node:net';

export type SimulatorProtocol = 'h2' | 'http/1.1';

/** What an HTTP/2 client with prior knowledge sends first (RFC 9113, section 3.4); no HTTP/1.1 request starts so. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Reads a new connection's first bytes and calls `dispatch` with the protocol they show. The bytes read are put back
 * and the socket is left paused, so the chosen server parses the connection from its start.
 */
export function sniffProtocol(socket: Socket, dispatch: (protocol: SimulatorProtocol) => void): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const compared = Math.min(head.length, HTTP2_PREFACE.length);
    const isHttp2 = head.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (isHttp2 && head.length < HTTP2_PREFACE.length) return; // a prefix so far: wait for more
    socket.off('data', onData);
    socket.pause();
    socket.unshift(head);
    dispatch(isHttp2 ? 'h2' : 'http/1.1');
  };
  socket.on('data', onData);
}
