/** Byte counts for people: 512 B, 48.0 KiB, 10.0 MiB, 1.50 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 1 ? 2 : 1)} ${units[unit]}`;
}

/** 45s, 3m05s, 1h02m: what is left, to the second. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface Progress {
  readonly label: string;
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
}

/**
 * One line of a transfer's progress for a terminal `columns` wide:
 * `report.pdf [██████░░░░░░] 52% 5.2 MiB/10.0 MiB 3.1 MiB/s ETA 2s`. The bar takes what the
 * text leaves (at least 10 cells); the label is cut to fit.
 */
export function progressLine(p: Progress, columns = 80): string {
  const fraction = p.total === 0 ? 1 : Math.min(1, p.done / p.total);
  const rate = p.elapsedMs > 0 ? (p.done / p.elapsedMs) * 1000 : 0;
  const eta = fraction >= 1 ? 'done' : rate > 0 ? `ETA ${formatDuration(((p.total - p.done) / rate) * 1000)}` : 'ETA --';
  const facts = `${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(p.done)}/${formatBytes(p.total)} ${formatBytes(Math.round(rate))}/s ${eta}`;
  const label = [...p.label].slice(0, Math.max(8, Math.floor(columns / 4))).join('');
  const cells = Math.max(10, columns - [...label].length - facts.length - 5);
  const filled = Math.round(fraction * cells);
  return `${label} [${'█'.repeat(filled)}${'░'.repeat(cells - filled)}] ${facts}`;
}
