import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { LineSplitter } from '../protocol/lines.js';

/** A frame from the server: an object with a string `type`; render.ts reads the rest defensively. */
export type ServerFrame = Record<string, unknown> & { type: string };

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly ws: boolean;
  readonly tls: boolean;
  readonly insecure: boolean;
}

export interface ConnectionHandlers {
  onFrame(frame: ServerFrame): void;
  /** A line that is not a JSON object: reported, not fatal (the server owns framing). */
  onBadLine(reason: string): void;
  /** Called once, when the connection is gone for any reason; `error` when it broke. */
  onClose(error?: Error): void;
}

/** One connection to a gateway, TCP JSON lines or WebSocket, behind the same three calls. */
export interface Connection {
  /** False when the connection is already closed (the frame was not sent). */
  send(frame: object): boolean;
  /** Bytes sent but not yet taken by the network: a file upload waits while there are many. */
  buffered(): number;
  /** Closes politely; onClose follows. Idempotent. */
  close(): void;
  /** Closes now, dropping anything unsent. Idempotent. */
  destroy(): void;
}

// The largest server frame is a history reply: 100 messages of 4,000 characters, each up to
// 6 bytes once JSON-escaped, is about 2.4 MB. Past 4 MiB without a newline the stream is not
// ours to understand, and holding more is a leak.
export const maxInboundBytes = 4 * 1024 * 1024;
const connectTimeoutMs = 10_000;
// After close(), a server that neither closes nor answers gets this long before we cut it.
const closeGraceMs = 2_000;

export function describeEndpoint(e: Endpoint): string {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  if (e.ws) return `${e.tls ? 'wss' : 'ws'}://${host}:${e.port}/`;
  return `${e.tls ? 'tls' : 'tcp'}://${host}:${e.port}`;
}

/** Resolves once the connection is open; rejects with a readable error when it cannot open. */
export function openConnection(endpoint: Endpoint, handlers: ConnectionHandlers): Promise<Connection> {
  return endpoint.ws ? openWebSocket(endpoint, handlers) : openSocket(endpoint, handlers);
}

function parseLine(line: string, handlers: ConnectionHandlers): void {
  if (line.trim() === '') return;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    handlers.onBadLine('the server sent a line that is not JSON');
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    handlers.onBadLine('the server sent a frame without a type');
    return;
  }
  handlers.onFrame(value as ServerFrame);
}

function openSocket(e: Endpoint, handlers: ConnectionHandlers): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = e.tls
      ? tls.connect({ host: e.host, port: e.port, servername: net.isIP(e.host) ? undefined : e.host, rejectUnauthorized: !e.insecure })
      : net.connect({ host: e.host, port: e.port });
    const lines = new LineSplitter(maxInboundBytes);
    let opened = false;
    let closed = false;
    let failure: Error | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    socket.setNoDelay(true);
    socket.setTimeout(connectTimeoutMs, () => {
      if (!opened) socket.destroy(new Error(`no answer within ${connectTimeoutMs / 1000} s`));
    });
    socket.once(e.tls ? 'secureConnect' : 'connect', () => {
      opened = true;
      socket.setTimeout(0);
      resolve(connection);
    });
    socket.on('data', (chunk: Buffer) => {
      const got: string[] = [];
      try {
        lines.push(chunk, (line) => got.push(line), () => handlers.onBadLine('the server sent a line that is not UTF-8'));
      } catch {
        socket.destroy(new Error(`the server sent a line longer than ${maxInboundBytes} bytes`));
        return;
      }
      // Keep reading after close() (the server's `bye` answers it), but not after destroy().
      for (const line of got) {
        if (socket.destroyed) break;
        parseLine(line, handlers);
      }
    });
    socket.on('error', (err) => {
      failure ??= err;
    });
    socket.on('close', () => {
      clearTimeout(graceTimer);
      if (!opened) {
        reject(failure ?? new Error('the server closed the connection'));
        return;
      }
      closed = true;
      handlers.onClose(failure);
    });

    const connection: Connection = {
      send(frame) {
        if (closed || socket.destroyed) return false;
        // No backpressure wait: a person (or a script waiting for each answer) sends little;
        // file uploads watch buffered() themselves.
        socket.write(JSON.stringify(frame) + '\n');
        return true;
      },
      buffered: () => socket.writableLength,
      close() {
        if (closed) return;
        closed = true;
        socket.end();
        graceTimer = setTimeout(() => socket.destroy(), closeGraceMs);
      },
      destroy() {
        closed = true;
        socket.destroy();
      },
    };
  });
}

function openWebSocket(e: Endpoint, handlers: ConnectionHandlers): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(describeEndpoint(e), {
      maxPayload: maxInboundBytes,
      handshakeTimeout: connectTimeoutMs,
      rejectUnauthorized: !e.insecure,
      perMessageDeflate: false,
    });
    let opened = false;
    let closed = false;
    let failure: Error | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    ws.on('open', () => {
      opened = true;
      resolve(connection);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        handlers.onBadLine('the server sent a binary frame');
        return;
      }
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      parseLine(bytes.toString('utf8'), handlers);
    });
    ws.on('error', (err) => {
      failure ??= err;
    });
    ws.on('close', (code) => {
      clearTimeout(graceTimer);
      if (!opened) {
        reject(failure ?? new Error('the server closed the connection'));
        return;
      }
      const wasClosing = closed;
      closed = true;
      // 1000 and 1001 are orderly closes; 1005 is a close frame without a code.
      const orderly = code === 1000 || code === 1001 || code === 1005;
      handlers.onClose(failure ?? (wasClosing || orderly ? undefined : new Error(`closed with code ${code}`)));
    });

    const connection: Connection = {
      send(frame) {
        if (closed || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(frame));
        return true;
      },
      buffered: () => ws.bufferedAmount,
      close() {
        if (closed) return;
        closed = true;
        ws.close(1000);
        graceTimer = setTimeout(() => ws.terminate(), closeGraceMs);
      },
      destroy() {
        closed = true;
        ws.terminate();
      },
    };
  });
}
