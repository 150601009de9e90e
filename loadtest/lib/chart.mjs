// The comparison's SVG chart: one horizontal bar per (scenario, measure) giving Chorus's
// value over Socket.IO's in the same run, with the 0.5 (the goal) and 1.0 lines.
// Plain SVG text, no dependency: it renders on GitHub and in any browser.

const rowHeight = 22;
const labelWidth = 260;
const plotWidth = 420;
const maxRatio = 3; // longer bars are clipped and labelled with their value

/** @param {{label: string, ratio: number|null}[]} bars  @param {string} title */
export function ratioChart(bars, title) {
  const shown = bars.filter((b) => b.ratio !== null && Number.isFinite(b.ratio));
  const height = 60 + shown.length * rowHeight + 30;
  const width = labelWidth + plotWidth + 80;
  const x = (r) => labelWidth + (Math.min(r, maxRatio) / maxRatio) * plotWidth;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="38" fill="#555">Chorus ÷ Socket.IO, same run (lower is better; goal lines at 0.5 and 1)</text>`,
  ];
  shown.forEach((b, i) => {
    const y = 50 + i * rowHeight;
    const colour = b.ratio <= 0.5 ? '#2a9d3f' : b.ratio <= 1 ? '#e0a100' : '#c0392b';
    out.push(`<text x="10" y="${y + 15}">${escape(b.label)}</text>`);
    out.push(`<rect x="${labelWidth}" y="${y + 3}" width="${(x(b.ratio) - labelWidth).toFixed(1)}" height="${rowHeight - 6}" fill="${colour}"/>`);
    out.push(`<text x="${(x(b.ratio) + 4).toFixed(1)}" y="${y + 15}">${b.ratio.toFixed(2)}</text>`);
  });
  const bottom = 50 + shown.length * rowHeight;
  for (const r of [0.5, 1, 2, 3]) {
    const dash = r === 0.5 || r === 1 ? '' : ' stroke-dasharray="2,3"';
    out.push(`<line x1="${x(r)}" y1="46" x2="${x(r)}" y2="${bottom}" stroke="#333"${dash}/>`);
    out.push(`<text x="${x(r) - 8}" y="${bottom + 16}">${r}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function escape(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
