import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { documents, serverHelp } from '../support/server.js';
import { deployDir } from './paths.js';

// Manifests are loose JSON here: each test checks the fields it reads.
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: any; data?: Record<string, string> };
type Port = { name?: string; containerPort: number };

const k8sDir = path.join(deployDir, 'k8s');
const metricsPort = 9464;

/** The Kubernetes manifests agree with each other, with the image and with the server's flags. */
describe('deploy/k8s', () => {
  let manifests: Manifest[];
  const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => {
    const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
    expect(found, `${kind} ${name}`).toBeDefined();
    return found!;
  };
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);
  const gatewayContainer = () => named('Deployment', 'chorus-gateway').spec.template.spec.containers[0];
  /** A probe or Service port, by name or number, as the container port number it reaches. */
  const containerPort = (container: { ports: Port[] }, port: string | number) =>
    typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort;

  beforeAll(async () => {
    const files = (await readdir(k8sDir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    manifests = [];
    for (const file of files) {
      for (const doc of parseAllDocuments(await readFile(path.join(k8sDir, file), 'utf8'))) {
        expect(doc.errors, file).toEqual([]);
        manifests.push(doc.toJS() as Manifest);
      }
    }
  });

  it('lists every manifest file in kustomization.yaml, and nothing else', async () => {
    const kustomization = parse(await readFile(path.join(k8sDir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; images: Array<{ name: string }> };
    const files = (await readdir(k8sDir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.images.map((i) => i.name)).toContain(gatewayContainer().image);
  });

  it('names no namespace, so it installs into any', () => {
    for (const m of manifests) expect((m.metadata as { namespace?: string }).namespace, `${m.kind} ${m.metadata.name}`).toBeUndefined();
  });

  it('runs three gateway replicas on the chat, WebSocket and metrics ports', () => {
    const deployment = named('Deployment', 'chorus-gateway');
    expect(deployment.spec.replicas).toBe(3);
    expect(gatewayContainer().ports.map((p: Port) => p.containerPort).sort()).toEqual([50445, 50446, metricsPort].sort());
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(metricsPort));
    expect(deployment.spec.template.metadata.annotations['prometheus.io/scrape']).toBe('true');
  });

  it('probes readiness on /readyz and liveness on /healthz, both on the metrics port', () => {
    const container = gatewayContainer();
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(containerPort(container, container.readinessProbe.httpGet.port)).toBe(metricsPort);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(containerPort(container, container.livenessProbe.httpGet.port)).toBe(metricsPort);
  });

  it('gives the drain time to finish and bounds memory', () => {
    const spec = named('Deployment', 'chorus-gateway').spec.template.spec;
    // preStop, then the server's stop deadline: --drain-ms (5 s) plus 5 s at most. The pod must outlive both.
    const preStop = gatewayContainer().lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(Number(preStop[1]) + 5 + 5);
    expect(gatewayContainer().resources.requests.cpu).toBeDefined();
    expect(gatewayContainer().resources.limits.memory).toBeDefined();
    expect(spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('sets only CHORUS_* variables that --help documents, and CHORUS_REDIS_SENTINEL names every sentinel pod', async () => {
    const help = await serverHelp();
    const env = gatewayContainer().env as Array<{ name: string; value: string }>;
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    for (const { name } of env) expect(documents(help, name), `${name} in chorus-server --help`).toBe(true);
    const sentinels = named('StatefulSet', 'chorus-sentinel');
    const service = named('Service', sentinels.spec.serviceName);
    const addresses = value('CHORUS_REDIS_SENTINEL')!.split(',');
    expect(addresses).toEqual(
      Array.from({ length: sentinels.spec.replicas }, (_, i) => `${sentinels.metadata.name}-${i}.${service.metadata.name}:${service.spec.ports[0].port}`),
    );
    expect(Number(value('CHORUS_ACK_REPLICAS'))).toBeGreaterThanOrEqual(1);
    // The master name the gateways ask for is the one the sentinels monitor.
    const config = named('ConfigMap', 'chorus-redis').data!['sentinel.conf'] as string;
    const [, master, host, , quorum] = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(config)!;
    expect(value('CHORUS_REDIS_MASTER')).toBe(master);
    expect(Number(quorum)).toBeLessThanOrEqual(Math.floor(sentinels.spec.replicas / 2) + 1);
    expect(host).toBe(`chorus-redis-0.${named('StatefulSet', 'chorus-redis').spec.serviceName}`);
  });

  it('runs Redis as a master with a replica, persisted with AOF every second', () => {
    const redis = named('StatefulSet', 'chorus-redis');
    expect(redis.spec.replicas).toBeGreaterThanOrEqual(2);
    const script = named('ConfigMap', 'chorus-redis').data!['start-redis.sh'] as string;
    expect(script).toContain('--appendonly yes --appendfsync everysec');
    expect(script).toContain('--replicaof');
    expect(redis.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
  });

  it('autoscales the gateways on CPU, scaling down slowly, one pod at a time', () => {
    const hpa = named('HorizontalPodAutoscaler', 'chorus-gateway');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'chorus-gateway' });
    expect(hpa.spec.minReplicas).toBe(named('Deployment', 'chorus-gateway').spec.replicas);
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    const down = hpa.spec.behavior.scaleDown;
    expect(down.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    expect(down.policies).toEqual([expect.objectContaining({ type: 'Pods', value: 1 })]);
    // CPU utilization is measured against requests: without one the autoscaler cannot work.
    expect(gatewayContainer().resources.requests.cpu).toBeDefined();
  });

  it('selects pods that exist, on ports they declare, from every Service and budget', () => {
    const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];
    const pods = workloads.map((d) => ({ labels: d.spec.template.metadata.labels, container: d.spec.template.spec.containers[0] }));
    for (const deployment of workloads) {
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels), deployment.metadata.name).toBe(true);
    }
    for (const service of byKind('Service')) {
      const selected = pods.filter((p) => matches(service.spec.selector, p.labels));
      expect(selected, `Service ${service.metadata.name} selects pods`).not.toHaveLength(0);
      for (const port of service.spec.ports) {
        for (const pod of selected) expect(containerPort(pod.container, port.targetPort), `${service.metadata.name} ${port.name}`).toBeDefined();
      }
    }
    const budget = named('PodDisruptionBudget', 'chorus-gateway');
    expect(matches(budget.spec.selector.matchLabels, named('Deployment', 'chorus-gateway').spec.template.metadata.labels)).toBe(true);
    expect(budget.spec.maxUnavailable ?? 3 - budget.spec.minAvailable).toBe(1);
  });

  it('keeps the metrics port off the public Service', () => {
    const ports = named('Service', 'chorus').spec.ports.map((p: { port: number }) => p.port);
    expect(ports.sort()).toEqual([50445, 50446]);
  });
});
