import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({ tcpPort: 50445, wsPort: 50446, metricsPort: 9464, workers: 1, history: 1000, logLevel: 'info' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lets flags win over CHORUS_* variables over defaults', () => {
    expect(loadConfig([], { CHORUS_TCP_PORT: '4000' }).tcpPort).toBe(4000);
    expect(loadConfig(['--tcp-port', '5000'], { CHORUS_TCP_PORT: '4000' }).tcpPort).toBe(5000);
    expect(loadConfig(['--tcp-port=6000'], {}).tcpPort).toBe(6000);
    expect(loadConfig(['--redis-cluster', 'a:1, b:2'], {}).redisCluster).toEqual(['a:1', 'b:2']);
  });

  it('has the edge limits: metrics on loopback, per-address limits off, PROXY protocol off', () => {
    expect(loadConfig([], {})).toMatchObject({
      metricsHost: '127.0.0.1', helloTimeoutMs: 10_000, writeDeadlineMs: 10_000, maxConnectionsPerIp: 0, connectRatePerIp: 0,
      proxyProtocol: false, trustedProxies: [],
    });
  });

  it('takes --proxy-protocol bare, or =true/false, or as CHORUS_PROXY_PROTOCOL, with trusted proxies', () => {
    const trusted = ['--trusted-proxies', '10.0.0.0/8, 127.0.0.1,::1,fd00::/8'];
    expect(loadConfig(['--proxy-protocol', ...trusted], {})).toMatchObject({ proxyProtocol: true, trustedProxies: ['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8'] });
    expect(loadConfig(['--proxy-protocol', 'false'], {}).proxyProtocol).toBe(false);
    expect(loadConfig(['--proxy-protocol=true', ...trusted], {}).proxyProtocol).toBe(true);
    expect(loadConfig(trusted, { CHORUS_PROXY_PROTOCOL: 'true' }).proxyProtocol).toBe(true);
  });

  it('runs one worker per core with Redis unless told otherwise', () => {
    expect(loadConfig(['--redis', 'redis://x:1'], {}).workers).toBeGreaterThanOrEqual(1);
    expect(loadConfig(['--redis', 'redis://x:1', '--workers', '3'], {}).workers).toBe(3);
  });

  it.each([
    [['--tcp-port', '70000'], 'port number'],
    [['--workers', '2'], 'needs Redis'],
    [['--redis', 'redis://a', '--redis-cluster', 'b:1'], 'one of'],
    [['--redis', 'redis://a', '--redis-sentinel', 'b:1', '--redis-master', 'm'], 'one of'],
    [['--redis-sentinel', 'b:1'], 'go together'],
    [['--redis-master', 'm'], 'go together'],
    [['--ack-replicas', '1'], 'needs Redis'],
    [['--tls-cert', 'c.pem'], 'go together'],
    [['--log-level', 'loud'], 'one of'],
    [['--nope'], 'unknown option'],
    [['--host'], 'needs a value'],
    [['--proxy-protocol'], 'needs --trusted-proxies'],
    [['--proxy-protocol=yes'], 'true or false'],
    [['--trusted-proxies', '10.0.0.0/33'], 'not an IP address or CIDR block'],
    [['--trusted-proxies', 'haproxy'], 'not an IP address or CIDR block'],
    [['--hello-timeout-ms', '10'], 'at least 100'],
  ])('refuses %j', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(message);
  });
});
