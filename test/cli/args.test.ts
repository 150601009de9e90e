import { describe, expect, it } from 'vitest';
import { helpText, parseArgs, UsageError } from '../../src/cli/args.js';

describe('chorus flags', () => {
  it('defaults to TCP on 127.0.0.1:50445 and asks for the nick', () => {
    const o = parseArgs([]);
    expect(o).toMatchObject({ host: '127.0.0.1', port: 50445, ws: false, tls: false, insecure: false, help: false, color: true, timestamps: false, reconnectSeconds: 30 });
    expect(o.nick).toBeUndefined();
  });

  it('defaults to port 50446 with --ws, unless --port says otherwise', () => {
    expect(parseArgs(['--ws']).port).toBe(50446);
    expect(parseArgs(['--ws', '--port', '9000']).port).toBe(9000);
  });

  it('takes --flag value and --flag=value', () => {
    expect(parseArgs(['--host', 'chat.lan', '--port=6000', '--nick=ann'])).toMatchObject({ host: 'chat.lan', port: 6000, nick: 'ann' });
  });

  it('tries to resume for 30 s by default; --reconnect sets it, 0 turns it off', () => {
    expect(parseArgs(['--reconnect', '5']).reconnectSeconds).toBe(5);
    expect(parseArgs(['--reconnect=0']).reconnectSeconds).toBe(0);
  });

  it('saves files under ./downloads unless --downloads says where', () => {
    expect(parseArgs([]).downloads).toBe('./downloads');
    expect(parseArgs(['--downloads', '/tmp/in']).downloads).toBe('/tmp/in');
    expect(() => parseArgs(['--downloads='])).toThrow(UsageError);
    expect(helpText).toContain('--downloads <d>');
  });

  it('takes --tls, --insecure (only with --tls), --timestamps, --no-color and --help', () => {
    expect(parseArgs(['--tls', '--insecure'])).toMatchObject({ tls: true, insecure: true });
    expect(() => parseArgs(['--insecure'])).toThrow(/only makes sense with --tls/);
    expect(parseArgs(['--timestamps', '--no-color'])).toMatchObject({ timestamps: true, color: false });
    expect(parseArgs(['-h']).help).toBe(true);
    expect(parseArgs(['--help']).help).toBe(true);
  });

  it.each([
    [['--port', '0'], /--port must be a number from 1 to 65535/],
    [['--port', '65536'], /--port must be/],
    [['--port', 'http'], /--port must be/],
    [['--port'], /--port needs a value/],
    [['--nick', '--ws'], /--nick needs a value/],
    [['--host='], /--host must not be empty/],
    [['--ws=yes'], /--ws takes no value/],
    [['--reconnect', '-1'], /--reconnect must be a number of seconds from 0 to 3600/],
    [['--reconnect', '3601'], /--reconnect must be/],
    [['--colour'], /unknown option --colour/],
    [['localhost'], /unexpected argument "localhost"/],
  ])('refuses %j with a clear message', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it('documents every flag in --help', () => {
    for (const flag of ['--host', '--port', '--ws', '--tls', '--insecure', '--nick', '--timestamps', '--reconnect', '--no-color', '--help']) {
      expect(helpText).toContain(flag);
    }
  });
});
