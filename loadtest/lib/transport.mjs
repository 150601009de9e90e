// One client connection to a gateway, over WebSocket or TCP JSON lines, behind the same
// small interface: open(), send(frame), close(), destroy(), and onFrame/onClose callbacks.

import net from 'node:net';
import WebSocket from 'ws';

const maxFrameBytes = 1024 * 1024; // the server's frames are <= 64 KiB; 1 MiB means framing is lost
const connectTimeoutMs = 10_000;
const presencePrefix = '{"type":"presence"';

/** Loopback only: this tool is a load generator and must never aim at another machine. */
export function assertLoopback(host) {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return;
  throw new Error(`refusing to load ${host}: run.mjs only targets loopback addresses (127.0.0.0/8, ::1, localhost)`);
}

/** Where one user connects: {transport:'ws', url} or {transport:'tcp', host, port}. */
export function describeTarget(t) {
  return t.transport === 'ws' ? t.url : `tcp://${t.host}:${t.port}`;
}

export function createConnection(target) {
  return target.transport === 'ws' ? new WsConnection(target.url) : new TcpConnection(target.host, target.port);
}

class BaseConnection {
  constructor() {
    this.onFrame = () => {};
    this.onSkipped = () => {};
    this.onClose = () => {};
    this.closed = false;
    this.bytesIn = 0;
    this.badFrames = 0;
  }

  deliver(text) {
    this.bytesIn += text.length;
    // Presence batches (one per tick, of any size) are never used here: skip the parse when
    // the server wrote the type first (it does), so the load generator stays cheap.
    if (text.startsWith(presencePrefix)) {
      this.onSkipped(text);
      return;
    }
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.badFrames++;
      return;
    }
    if (frame !== null && typeof frame === 'object') this.onFrame(frame);
    else this.badFrames++;
  }

  finish(reason) {
    if (this.closed) return;
    this.closed = true;
    this.onClose(reason);
  }
}

class WsConnection extends BaseConnection {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        perMessageDeflate: false,
        maxPayload: maxFrameBytes,
        handshakeTimeout: connectTimeoutMs,
      });
      this.ws = ws;
      let opened = false;
      ws.on('open', () => {
        opened = true;
        resolve();
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) this.badFrames++;
        else this.deliver(data.toString());
      });
      ws.on('error', (err) => {
        if (!opened) reject(err);
      });
      ws.on('close', (code) => {
        if (!opened) reject(new Error(`closed before open (${code})`));
        this.finish(`ws close ${code}`);
      });
    });
  }

  send(frame) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  buffered() {
    return this.ws ? this.ws.bufferedAmount : 0;
  }

  close() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
  }

  destroy() {
    if (this.ws) this.ws.terminate();
  }
}

class TcpConnection extends BaseConnection {
  constructor(host, port) {
    super();
    this.host = host;
    this.port = port;
    this.socket = null;
    this.pending = ''; // the unfinished line; bounded by maxFrameBytes
  }

  open() {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.setEncoding('utf8');
      let opened = false;
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), connectTimeoutMs);
      socket.on('connect', () => {
        opened = true;
        clearTimeout(timer);
        resolve();
      });
      socket.on('data', (chunk) => this.onSocketData(chunk));
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (!opened) reject(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (!opened) reject(new Error('closed before connect'));
        this.finish('tcp close');
      });
    });
  }

  onSocketData(chunk) {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl === -1) {
      this.pending += chunk;
    } else {
      // The first line may continue what the previous chunk left unfinished.
      this.line(this.pending + chunk.slice(0, nl));
      this.pending = '';
      start = nl + 1;
      while ((nl = chunk.indexOf('\n', start)) !== -1) {
        this.line(chunk.slice(start, nl));
        start = nl + 1;
      }
      this.pending = chunk.slice(start);
    }
    if (this.pending.length > maxFrameBytes) {
      this.badFrames++;
      this.socket.destroy();
    }
  }

  line(text) {
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.length > 0) this.deliver(text);
  }

  send(frame) {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(JSON.stringify(frame) + '\n');
    return true;
  }

  buffered() {
    return this.socket ? this.socket.writableLength : 0;
  }

  close() {
    if (this.socket && !this.socket.destroyed) this.socket.end();
  }

  destroy() {
    if (this.socket) this.socket.destroy();
  }
}
