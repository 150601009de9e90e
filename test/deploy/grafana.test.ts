import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardFile, dashboardPanels, dashboardQueries } from './prometheus.js';
import { deployDir } from './paths.js';

/** The metrics ARCHITECTURE.md promises; the dashboard shows each, the alerts watch the critical ones. */
const contractMetrics = [
  'chorus_connections',
  'chorus_online_users',
  'chorus_messages_received_total',
  'chorus_messages_delivered_total',
  'chorus_delivery_latency_seconds',
  'chorus_frames_rejected_total',
  'chorus_slow_consumer_disconnects_total',
  'chorus_engine_up',
  'chorus_engine_op_seconds',
  'chorus_disconnects_total',
  'chorus_lagged_frames_total',
  'chorus_presence_frames_total',
  'chorus_presence_batches_total',
  'chorus_files_offered_total',
  'chorus_file_bytes_stored_total',
  'chorus_file_bytes_delivered_total',
  'chorus_file_transfers_failed_total',
  'chorus_auth_failures_total',
  'chorus_auth_throttled_total',
  'chorus_worker_crash_loop',
];

describe('deploy/grafana', () => {
  let uid: string;
  let dashboard: { schemaVersion: number; uid: string; templating: { list: Array<{ name: string; datasource?: { uid: string } }> } };

  beforeAll(async () => {
    const provisioning = parse(await readFile(path.join(deployDir, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ uid: string; type: string }>;
    };
    expect(provisioning.datasources).toHaveLength(1);
    expect(provisioning.datasources[0]!.type).toBe('prometheus');
    uid = provisioning.datasources[0]!.uid;
    dashboard = JSON.parse(await readFile(dashboardFile, 'utf8'));
  });

  it('is a current-schema dashboard with a fixed uid', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
  });

  it('uses the provisioned datasource in every panel, target and variable', async () => {
    for (const panel of await dashboardPanels()) {
      if (panel.type === 'row') continue;
      const p = panel as unknown as { title: string; datasource: { uid: string }; targets: Array<{ datasource?: { uid: string } }> };
      expect(p.datasource.uid, p.title).toBe(uid);
      for (const target of p.targets) expect(target.datasource?.uid ?? uid, p.title).toBe(uid);
    }
    for (const variable of dashboard.templating.list) expect(variable.datasource?.uid, variable.name).toBe(uid);
  });

  it('lays panels out with unique ids inside the 24-column grid', async () => {
    const panels = (await dashboardPanels()) as unknown as Array<{ id: number; title: string; gridPos: { x: number; w: number; h: number } }>;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it('gives every non-row panel PromQL targets with distinct refIds', async () => {
    for (const panel of await dashboardPanels()) {
      if (panel.type === 'row') continue;
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = panel.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const t of panel.targets!) expect(t.expr, panel.title).toMatch(/\S/);
    }
  });

  it('only uses Grafana variables that the PromQL checks know how to replace', async () => {
    for (const q of await dashboardQueries()) expect(q.expr, q.source).not.toContain('$');
  });

  it('shows every contract metric', async () => {
    const exprs = (await dashboardQueries()).map((q) => q.expr).join('\n');
    for (const metric of contractMetrics) expect(exprs, metric).toMatch(new RegExp(`\\b${metric}(_bucket)?\\b`));
  });
});
