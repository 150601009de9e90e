import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../support/ports.js';
import { Child } from '../support/process.js';
import { waitUntil } from '../support/wait.js';
import { deployDir } from './paths.js';

/** A throwaway Prometheus with the shipped alert rules, and the PromQL the deploy files ship. */

export const prometheusBin = '/usr/bin/prometheus';
export const promtoolBin = '/usr/bin/promtool';
export const alertsFile = path.join(deployDir, 'prometheus/alerts.yml');
export const dashboardFile = path.join(deployDir, 'grafana/dashboards/chorus.json');

/** One series of an instant query: its labels and [unix seconds, value as text]. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  url: string;
  /** The temporary directory with the generated config and the TSDB; stop() removes it. */
  dir: string;
  /** Runs an instant query; throws with Prometheus's error when the expression is bad. */
  evaluate(expr: string): Promise<Sample[]>;
  /** The loaded rule groups (GET /api/v1/rules), with each rule's health and last error. */
  rules(): Promise<Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>>;
  /** The scrape targets (GET /api/v1/targets): whether each is up, and why not. */
  targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus on a free loopback port, scraping `targets` (host:port) as job "chorus"
 * every `scrapeIntervalS` seconds and evaluating the shipped alerts.yml as often. Its data
 * lives in a temporary directory that stop() removes.
 */
export async function startPrometheus(options: { targets: string[]; scrapeIntervalS?: number; startTimeoutMs?: number }): Promise<Prometheus> {
  const interval = `${options.scrapeIntervalS ?? 1}s`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chorus-prometheus-'));
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: [alertsFile],
    scrape_configs: [{ job_name: 'chorus', static_configs: [{ targets: options.targets }] }],
  };
  // JSON is YAML: no need to serialise YAML here.
  await writeFile(path.join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Child('prometheus', prometheusBin, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const stop = async () => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      child.assertRunning();
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
    }, 'Prometheus to be ready', options.startTimeoutMs ?? 20_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    dir,
    evaluate: (expr) => api(url, 'query', { query: expr }) as Promise<Sample[]>,
    rules: async () => ((await api(url, 'rules', {})) as { groups: Awaited<ReturnType<Prometheus['rules']>> }).groups,
    targets: async () => ((await api(url, 'targets', { state: 'active' })) as { activeTargets: Awaited<ReturnType<Prometheus['targets']>> }).activeTargets,
    stop,
  };
}

async function api(url: string, endpoint: string, params: Record<string, string>): Promise<unknown> {
  const res = await fetch(`${url}/api/v1/${endpoint}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as { status: string; data?: { result?: unknown }; error?: string };
  if (body.status !== 'success') throw new Error(`${endpoint} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
  return body.data && 'result' in body.data ? body.data.result : body.data;
}

/**
 * Grafana's variables mean nothing to Prometheus: put in what Grafana would on a 1 s
 * scrape interval, and "All" (.*) for the gateway variable.
 */
export function toPromQL(grafanaExpr: string): string {
  return grafanaExpr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '5m')
    .replaceAll('$gateway', '.*');
}

export interface Query {
  /** Where it comes from, for messages: the panel or alert name. */
  source: string;
  expr: string;
}

type Panel = { title?: string; type: string; panels?: Panel[]; targets?: Array<{ expr?: string; refId: string }> };

/** Every panel of the shipped dashboard, rows' nested panels included. */
export async function dashboardPanels(): Promise<Panel[]> {
  const dashboard = JSON.parse(await readFile(dashboardFile, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every target expression of the shipped dashboard, as PromQL Prometheus can run. */
export async function dashboardQueries(): Promise<Query[]> {
  return (await dashboardPanels()).flatMap((panel) =>
    (panel.targets ?? []).map((t) => ({ source: `panel "${panel.title}" ${t.refId}`, expr: toPromQL(t.expr ?? '') })),
  );
}

/** Every alert expression of the shipped deploy/prometheus/alerts.yml. */
export async function alertQueries(): Promise<Query[]> {
  const file = parse(await readFile(alertsFile, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ source: `alert ${r.alert ?? r.record}`, expr: r.expr })));
}

/** The queries that return no series right now (an error counts as none, with its message). */
export async function queriesWithoutSeries(prometheus: Prometheus, queries: Query[]): Promise<string[]> {
  const empty: string[] = [];
  for (const q of queries) {
    try {
      if ((await prometheus.evaluate(q.expr)).length === 0) empty.push(`${q.source}: ${q.expr}`);
    } catch (err) {
      empty.push(`${q.source}: ${(err as Error).message}`);
    }
  }
  return empty;
}
