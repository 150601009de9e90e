import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { documents, serverHelp } from '../support/server.js';
import { readDockerfile } from './dockerfile.js';
import { deployDir, root } from './paths.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  command?: string[];
}

const composeFile = path.join(deployDir, 'docker-compose.yml');
const gateways = ['gateway1', 'gateway2', 'gateway3'];

/** Every name, port, path and variable the compose stack refers to must exist where it points. */
describe('deploy/docker-compose.yml', () => {
  let services: Record<string, Service>;
  let exposed: string[];

  beforeAll(async () => {
    services = (parse(await readFile(composeFile, 'utf8')) as { services: Record<string, Service> }).services;
    const final = (await readDockerfile()).at(-1)!;
    exposed = final.instructions.find((i) => i.keyword === 'EXPOSE')!.args.split(/\s+/);
  });

  /** The host file behind a container path of `service`, through its bind mounts. */
  const hostPath = (service: string, containerPath: string): string | undefined => {
    for (const volume of services[service]!.volumes ?? []) {
      const [source, target] = volume.split(':') as [string, string];
      if (containerPath === target || containerPath.startsWith(`${target}/`)) {
        return path.join(path.resolve(deployDir, source), path.posix.relative(target, containerPath));
      }
    }
    return undefined;
  };

  it('runs a Redis master, its replica, three sentinels, three gateways, HAProxy, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['grafana', 'haproxy', 'prometheus', 'redis', 'redis-replica', 'sentinel1', 'sentinel2', 'sentinel3', ...gateways].sort(),
    );
  });

  it('replicates the master and persists both with AOF every second', () => {
    const replica = services['redis-replica']!.command!;
    expect(replica.slice(replica.indexOf('--replicaof') + 1, replica.indexOf('--replicaof') + 3)).toEqual(['redis', '6379']);
    for (const name of ['redis', 'redis-replica']) {
      const command = services[name]!.command!.join(' ');
      expect(command, name).toContain('--appendonly yes');
      expect(command, name).toContain('--appendfsync everysec');
    }
  });

  it('has the sentinels watch the master by its service name, with a quorum they can reach', async () => {
    const conf = await readFile(hostPath('sentinel1', '/etc/chorus/sentinel.conf')!, 'utf8');
    const [, master, host, port, quorum] = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(conf)!;
    expect(services[host!], 'the monitored master is a service').toBeDefined();
    expect(port).toBe('6379');
    expect(Number(quorum)).toBeLessThanOrEqual(2);
    for (const name of gateways) expect(services[name]!.environment!.CHORUS_REDIS_MASTER).toBe(master);
  });

  it('builds each gateway from the project Dockerfile', () => {
    for (const name of gateways) {
      const build = services[name]!.build!;
      const context = path.resolve(deployDir, build.context);
      expect(context, name).toBe(root);
      expect(existsSync(path.join(context, build.dockerfile ?? 'Dockerfile')), name).toBe(true);
    }
  });

  it('configures gateways only through CHORUS_* variables that --help documents', async () => {
    const help = await serverHelp();
    for (const name of gateways) {
      const env = services[name]!.environment!;
      for (const key of Object.keys(env)) {
        expect(key, name).toMatch(/^CHORUS_/);
        expect(documents(help, key), `${name}: ${key} in chorus-server --help`).toBe(true);
      }
      for (const sentinel of env.CHORUS_REDIS_SENTINEL!.split(',')) {
        const [host, port] = sentinel.split(':');
        expect(services[host!], `${name}: CHORUS_REDIS_SENTINEL names a service`).toBeDefined();
        expect(port).toBe('26379');
      }
      expect(Number(env.CHORUS_ACK_REPLICAS)).toBeGreaterThanOrEqual(1);
    }
  });

  it('tells a documented variable from an undocumented one', async () => {
    const help = await serverHelp();
    expect(documents(help, 'CHORUS_REDIS')).toBe(true);
    // --redis-cluster exists, but neither --redis-url nor a prefix match counts.
    expect(documents(help, 'CHORUS_REDIS_URL')).toBe(false);
    expect(documents(help, 'CHORUS_REDIS_CLUST')).toBe(false);
  });

  it('mounts only files and directories that exist in deploy/', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        expect(source, `${name}: bind mounts are relative to deploy/`).toMatch(/^\.\.?\//);
        expect(existsSync(path.resolve(deployDir, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it('publishes the chat ports through HAProxy, whose defaults name these gateways and ports', async () => {
    const haproxy = services.haproxy!;
    expect(haproxy.ports!.map((p) => p.split(':').at(-1))).toEqual(expect.arrayContaining(['50445', '50446']));
    const cfgPath = hostPath('haproxy', '/usr/local/etc/haproxy/haproxy.cfg');
    expect(cfgPath).toBe(path.join(deployDir, 'haproxy.cfg'));
    const cfg = await readFile(cfgPath!, 'utf8');
    const defaults = [...cfg.matchAll(/\$\{(CHORUS_GATEWAY\d_(?:HOST|TCP_PORT|WS_PORT|METRICS_PORT))-([^}]+)\}/g)];
    expect(defaults.length).toBeGreaterThan(0);
    for (const [, name, value] of defaults) {
      if (name!.endsWith('_HOST')) expect(gateways, name).toContain(value);
      else expect(exposed, `${name} default is a port the image exposes`).toContain(value);
    }
  });

  it('points Prometheus at every gateway\'s metrics port, with rule files that exist', async () => {
    const prometheus = services.prometheus!;
    const configArg = prometheus.command!.find((a) => a.startsWith('--config.file='))!;
    const configInContainer = configArg.split('=')[1]!;
    const config = parse(await readFile(hostPath('prometheus', configInContainer)!, 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    // Prometheus resolves rule_files against the config file's directory, in the container.
    for (const rules of config.rule_files) {
      const file = hostPath('prometheus', path.posix.resolve(path.posix.dirname(configInContainer), rules));
      expect(file && existsSync(file), rules).toBe(true);
    }
    const chorus = config.scrape_configs.find((c) => c.job_name === 'chorus')!;
    const targets = chorus.static_configs.flatMap((c) => c.targets);
    expect(targets.map((t) => t.split(':')[0]).sort()).toEqual(gateways);
    for (const target of targets) expect(exposed).toContain(target.split(':')[1]);
  });

  it('provisions Grafana with the Prometheus service and the dashboard directory it mounts', async () => {
    const datasources = parse(await readFile(hostPath('grafana', '/etc/grafana/provisioning/datasources/prometheus.yml')!, 'utf8')) as {
      datasources: Array<{ url: string }>;
    };
    const url = new URL(datasources.datasources[0]!.url);
    expect(services[url.hostname]).toBeDefined();
    expect(services.prometheus!.ports!.some((p) => p.endsWith(`:${url.port}`))).toBe(true);

    const providers = parse(await readFile(hostPath('grafana', '/etc/grafana/provisioning/dashboards/chorus.yml')!, 'utf8')) as {
      providers: Array<{ options: { path: string } }>;
    };
    const dashboards = hostPath('grafana', providers.providers[0]!.options.path);
    expect(dashboards && existsSync(path.join(dashboards, 'chorus.json'))).toBe(true);
    const home = services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(existsSync(hostPath('grafana', home)!), home).toBe(true);
  });
});
