/**
 * Folding long lines for the terminal ourselves, with a hanging indent: when the terminal
 * wraps a line, the rest starts at column 0, where a message padded with spaces could show
 * a line of its own that looks like the server's (`[SERVER]: your session expired`). Rows
 * we fold start indented, so only the start of a real line is ever at column 0.
 */

/** One colour escape (zero columns) or one code point. */
const token = /\x1b\[[0-9;]*m|[\s\S]/gu;
/** East Asian wide and emoji ranges: two columns each on a terminal. */
const wide = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
const indent = '  ';

/** `line` as rows of at most `width` columns; every row after the first starts with the indent. */
export function wrapLine(line: string, width: number): string[] {
  if (width <= indent.length + 2) return [line];
  const rows: string[] = [];
  let row = '';
  let used = 0;
  for (const [t] of line.matchAll(token)) {
    const w = t.length > 2 && t.startsWith('\x1b') ? 0 : wide.test(t) ? 2 : 1;
    if (used + w > width) {
      rows.push(row);
      row = indent;
      used = indent.length;
    }
    row += t;
    used += w;
  }
  rows.push(row);
  return rows;
}
