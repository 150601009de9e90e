#!/usr/bin/env node
// The Socket.IO 4 peer the bench compares Chorus with: one node of an N-node cluster sharing
// a Redis through @socket.io/redis-adapter. It is meant to be small, fair and idiomatic, not
// a chat server: a hello that names the user and answers with an ack, a send that is acked
// and broadcast (`*`), sent to the user's own room (`@nick`) or to a room (`#room`), joins.
// No rate limit, no history, no presence, no nick claims: the cheapest Socket.IO can do
// the same deliveries, with acks, across nodes.
//
//   node loadtest/peers/socketio-server.mjs --port 0 --redis redis://127.0.0.1:6380
//
// Prints one JSON line {"msg":"listening","wsPort":N} once it accepts connections.

import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';

const maxTextChars = 4000; // the same bound Chorus puts on a message's text
const maxPayloadBytes = 64 * 1024; // and on an inbound frame

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', redis: '' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--port') (o.port = Number(v)), i++;
    else if (argv[i] === '--host') (o.host = v), i++;
    else if (argv[i] === '--redis') (o.redis = v), i++;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!o.redis) throw new Error('--redis <url> is required');
  return o;
}

const o = parseArgs(process.argv.slice(2));
const pub = new Redis(o.redis);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, {
  transports: ['websocket'], // the generator speaks WebSocket only, as Chorus's ws clients do
  serveClient: false,
  maxHttpBufferSize: maxPayloadBytes,
  adapter: createAdapter(pub, sub),
});

const node = `${process.pid.toString(36)}`;
let seq = 0;
const folded = (s) => String(s).normalize('NFC').toLowerCase();

io.on('connection', (socket) => {
  let nick = null;
  socket.on('hello', (m, ack) => {
    if (typeof ack !== 'function') return;
    if (nick !== null || typeof m?.nick !== 'string' || m.nick.length === 0 || m.nick.length > 32) {
      return ack({ type: 'error', code: 'bad_nick', message: 'hello once, with a nick of 1 to 32 characters' });
    }
    nick = m.nick;
    socket.join(`@${folded(nick)}`); // a private message is a broadcast to the user's own room
    ack({ type: 'welcome', nick, online: io.engine.clientsCount, version: 1 });
  });
  socket.on('join', (m, ack) => {
    if (typeof ack !== 'function') return;
    if (nick === null || typeof m?.room !== 'string' || !m.room.startsWith('#')) {
      return ack({ type: 'error', code: 'bad_target', message: 'join #room after hello' });
    }
    socket.join(folded(m.room));
    ack({ type: 'joined', room: folded(m.room), nick });
  });
  socket.on('send', (m, ack) => {
    if (typeof ack !== 'function') return;
    if (nick === null) return ack({ type: 'error', code: 'hello_first', message: 'hello first' });
    const to = m?.to;
    const text = m?.text;
    if (typeof text !== 'string' || text.length === 0 || text.length > maxTextChars) {
      return ack({ type: 'error', code: 'text_too_long', message: 'text is 1 to 4000 characters' });
    }
    if (typeof to !== 'string' || !(to === '*' || to.startsWith('@') || to.startsWith('#'))) {
      return ack({ type: 'error', code: 'bad_target', message: 'to is *, @nick or #room' });
    }
    const ts = Date.now();
    const msg = { id: `${node}-${++seq}`, from: nick, to, text, ts };
    if (to === '*') socket.broadcast.emit('msg', msg);
    else socket.to(to.startsWith('@') ? `@${folded(to.slice(1))}` : folded(to)).emit('msg', msg);
    ack({ type: 'ack', id: msg.id, ts });
  });
});

http.listen(o.port, o.host, () => {
  process.stdout.write(JSON.stringify({ msg: 'listening', wsPort: http.address().port, pid: process.pid }) + '\n');
});

const stop = () => {
  io.close(() => {
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
