// Turns a scenario result into the human summary table and the one-line JSON for scripts.

const latencyRows = {
  chat: [
    ['connect', 'connect_ms'],
    ['hello→welcome', 'welcome_ms'],
    ['join→joined', 'join_ms'],
    ['send→ack', 'ack_ms'],
    ['delivery (now−ts)', 'delivery_ms'],
    ['end-to-end', 'e2e_ms'],
  ],
  connect: [
    ['connect', 'connect_ms'],
    ['hello→welcome', 'welcome_ms'],
    ['connect+welcome', 'total_ms'],
  ],
};

/** The final machine-readable line: one JSON object, always the last line of stdout. */
export function jsonLine(result) {
  return JSON.stringify(result);
}

export function summaryTable(r) {
  const lines = [];
  if (r.scenario === 'chat') {
    lines.push(
      `chorus loadtest: chat over ${r.transport}, ${r.ready}/${r.users} users ready, ${r.rooms} rooms, ` +
        `${r.rate} msg/user/s for ${r.duration_s} s (ramp ${r.ramp_s} s)`,
    );
  } else {
    lines.push(
      `chorus loadtest: connect over ${r.transport}, ${r.welcomed}/${r.users} users welcomed ` +
        `in ${r.ramp_s} s (${r.welcomed_per_s}/s, batches of ${r.batch})`,
    );
  }
  lines.push(`targets: ${r.targets.join(', ')}`);
  lines.push('');
  lines.push(latencyTable(latencyRows[r.scenario].map(([label, key]) => [label, r[key]])));
  lines.push('');
  if (r.scenario === 'chat') {
    const pct = r.delivery_ratio === null ? '-' : `${(r.delivery_ratio * 100).toFixed(2)}%`;
    lines.push(
      `messages  sent ${r.sent} (${r.sent_per_s}/s)  acked ${r.acked} (${r.acked_per_s}/s)  unacked ${r.unacked}`,
    );
    lines.push(
      `fan-out   received ${r.received} of ${r.expected} expected (${pct}), ${r.received_per_s}/s; ` +
        `echoes to sender ${r.echoes}`,
    );
    for (const [kind, k] of Object.entries(r.by_kind)) {
      lines.push(`  ${kind.padEnd(8)} sent ${k.sent}  acked ${k.acked}  refused ${k.failed}  expected deliveries ${k.expected}`);
    }
  } else {
    lines.push(`connected ${r.connected}  welcomed ${r.welcomed}  failed ${r.failed}  alive after hold ${r.alive_after_hold}`);
    lines.push(`frames    ${r.frames_in} received (presence comes in batches: at most one per client per tick)`);
  }
  lines.push(`loadgen   cpu ${r.loadgen.cpu_pct}% of one core, event-loop lag p99 ${r.loadgen.lag_p99_ms} ms, max ${r.loadgen.lag_max_ms} ms`);
  const errs = Object.entries(r.errors);
  lines.push(`errors    ${errs.length ? errs.map(([c, n]) => `${c}=${n}`).join('  ') : 'none'}`);
  lines.push(`closed by server while in use: ${r.disconnects}`);
  return lines.join('\n');
}

export function latencyTable(rows) {
  const head = ['latency (ms)', 'count', 'mean', 'p50', 'p95', 'p99', 'max'];
  const body = rows.map(([label, h]) => [
    label,
    String(h?.count ?? 0),
    ...['mean', 'p50', 'p95', 'p99', 'max'].map((k) => fmt(h?.[k])),
  ]);
  return table([head, ...body]);
}

/** Left-aligns the first column, right-aligns the rest. */
export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '))
    .join('\n');
}

function fmt(v) {
  if (v === null || v === undefined) return '-';
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}
