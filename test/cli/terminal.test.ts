// The console's secret prompt on a (simulated) terminal: what is typed is not echoed.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTerminal } from '../../src/cli/terminal.js';

function tty(): PassThrough & { isTTY: boolean; columns: number } {
  return Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
}

describe('the console terminal', () => {
  it('reads a password without echoing it or keeping it in the line history', async () => {
    const input = tty(), output = tty();
    let shown = '';
    output.on('data', (chunk: Buffer) => (shown += chunk.toString('utf8')));
    const term = createTerminal({ input, output, onInterrupt: () => {} });
    expect(term.interactive).toBe(true);
    const secret = term.readSecret('Password: ');
    input.write('hunter2 and more\r');
    expect(await secret).toBe('hunter2 and more');
    expect(shown).toContain('Password: ');
    expect(shown).not.toContain('hunter2');
    // Echo is back for ordinary lines, and the history (up arrow) does not offer the password.
    const line = term.read('>>> ');
    input.write('hello\r');
    expect(await line).toBe('hello');
    expect(shown).toContain('hello');
    const recalled = term.read('>>> ');
    input.write('\x1b[A\x1b[A\r'); // two back in the history: the line before 'hello'
    expect(await recalled).not.toContain('hunter2');
    term.close();
  });
});
