// Bugs the fuzz tests found, each as the smallest input that showed it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../support/server.js';
import { jsonFrames, Wire } from './wire.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

async function wire(): Promise<Wire> {
  return Wire.open(server.tcpPort);
}

describe('found by fuzzing', () => {
  it('answers a line that came in the same read as lines refused without waiting for anything', async () => {
    const w = await wire();
    w.socket.write('{"type":"hello","nick":"reg1"}\n');
    await w.waitFor(() => jsonFrames(w.bytes).some((f) => f.type === 'welcome'), 'the welcome');
    // Both refusals are synchronous: the queue emptied before the ping was queued behind them.
    w.socket.write('not json\nnot json either\n{"type":"ping","ref":"after"}\n');
    await w.waitFor(() => jsonFrames(w.bytes).some((f) => f.type === 'pong' && f.ref === 'after'), 'the pong');
    expect(jsonFrames(w.bytes).filter((f) => f.type === 'error')).toHaveLength(2);
    w.close();
  });

  it('answers text-mode lines after over-long ones split across reads', async () => {
    const w = await wire();
    w.socket.write(`reg2\n${('['.repeat(39_978) + '\n').repeat(2)}!online\n`);
    await w.waitFor(() => w.bytes.toString().includes('Online users'), 'the answer to !online');
    expect(w.bytes.toString().split('Error (text_too_long)')).toHaveLength(3);
    w.close();
  });

  it('refuses invalid UTF-8 in order: its error never overtakes the welcome', async () => {
    const w = await wire();
    w.socket.write(Buffer.concat([Buffer.from('{"type":"hello","nick":"reg3"}\n'), Buffer.from([0xd3, 0xc5, 0x0a])]));
    await w.waitFor(() => jsonFrames(w.bytes).length >= 2, 'two answers');
    expect(jsonFrames(w.bytes).slice(0, 2).map((f) => f.type)).toEqual(['welcome', 'error']);
    w.close();
  });
});
