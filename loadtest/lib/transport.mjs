// One client connection to a gateway, over WebSocket or TCP JSON lines (or, for the bench's
// comparison, Socket.IO to loadtest/peers/socketio-server.mjs), behind the same small
// interface: open(), send(frame), close(), destroy(), and onFrame/onClose callbacks.

import net from 'node:net';
import WebSocket from 'ws';
import { io as socketIo } from 'socket.io-client';

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
  return t.transport === 'tcp' ? `tcp://${t.host}:${t.port}` : t.transport === 'sio' ? `socket.io+${t.url}` : t.url;
}

/**
 * `localAddress` (a 127.0.0.x) spreads many connections over several source addresses: each
 * has its own ephemeral port range, so 10,000+ sockets (and the TIME_WAITs of the previous
 * run) do not exhaust one address's ports.
 */
export function createConnection(target, localAddress) {
  if (target.transport === 'ws') return new WsConnection(target.url, localAddress);
  if (target.transport === 'sio') return new SocketIoConnection(target.url, localAddress);
  return new TcpConnection(target.host, target.port, localAddress);
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
  constructor(url, localAddress) {
    super();
    this.url = url;
    this.localAddress = localAddress;
    this.ws = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        perMessageDeflate: false,
        maxPayload: maxFrameBytes,
        handshakeTimeout: connectTimeoutMs,
        localAddress: this.localAddress,
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
  constructor(host, port, localAddress) {
    super();
    this.host = host;
    this.port = port;
    this.localAddress = localAddress;
    this.socket = null;
    this.pending = ''; // the unfinished line; bounded by maxFrameBytes
  }

  open() {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, localAddress: this.localAddress });
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

/**
 * Socket.IO, speaking to the bench's peer: the same frames as Chorus, mapped onto idiomatic
 * Socket.IO calls: each request is an event with an ack callback, whose answer the peer shapes
 * as the Chorus frame (welcome, ack, joined, error); deliveries arrive as `msg` events.
 * Socket.IO keeps itself alive (its own heartbeat), so `ping` is not sent.
 */
class SocketIoConnection extends BaseConnection {
  constructor(url, localAddress) {
    super();
    this.url = url;
    this.localAddress = localAddress;
    this.socket = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const socket = socketIo(this.url, {
        transports: ['websocket'],
        forceNew: true, // one Manager (one WebSocket) per simulated user
        reconnection: false,
        timeout: connectTimeoutMs,
        perMessageDeflate: false,
        localAddress: this.localAddress,
      });
      this.socket = socket;
      let opened = false;
      socket.on('connect', () => {
        opened = true;
        resolve();
      });
      socket.on('connect_error', (err) => {
        if (!opened) reject(err);
        this.finish('socket.io connect_error');
      });
      socket.on('disconnect', (reason) => this.finish(`socket.io ${reason}`));
      socket.on('msg', (m) => this.onFrame({ type: 'msg', ...m }));
    });
  }

  send(frame) {
    if (this.closed || !this.socket.connected) return false;
    const { type, ref, ...body } = frame;
    if (type === 'ping') return true;
    if (type === 'bye') {
      this.socket.disconnect();
      return true;
    }
    this.socket.emit(type, body, (answer) => this.onFrame(ref === undefined ? answer : { ...answer, ref }));
    return true;
  }

  close() {
    if (this.socket) this.socket.disconnect();
  }

  destroy() {
    if (this.socket) this.socket.disconnect();
  }
}
