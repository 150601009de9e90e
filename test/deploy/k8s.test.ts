import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { documents, serverHelp } from '../support/server.js';
import { deployDir } from './paths.js';

// Manifests are loose JSON here: each test checks the fields it reads.
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: any };
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
    // The server's --drain-ms defaults to 5 s; the pod must outlive it.
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(10);
    expect(gatewayContainer().resources.requests.cpu).toBeDefined();
    expect(gatewayContainer().resources.limits.memory).toBeDefined();
    expect(spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('sets only CHORUS_* variables that --help documents, and CHORUS_REDIS names the Redis Service', async () => {
    const help = await serverHelp();
    const env = gatewayContainer().env as Array<{ name: string; value: string }>;
    for (const { name } of env) expect(documents(help, name), `${name} in chorus-server --help`).toBe(true);
    const redis = new URL(env.find((e) => e.name === 'CHORUS_REDIS')!.value);
    const service = named('Service', redis.hostname);
    expect(service.spec.ports.map((p: { port: number }) => String(p.port))).toContain(redis.port);
  });

  it('selects pods that exist, on ports they declare, from every Service and budget', () => {
    const pods = byKind('Deployment').map((d) => ({ labels: d.spec.template.metadata.labels, container: d.spec.template.spec.containers[0] }));
    for (const deployment of byKind('Deployment')) {
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
