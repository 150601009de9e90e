// A latency histogram with fixed log-spaced buckets: constant memory whatever the
// sample count, mergeable across users and runs, and percentiles within ~1% of exact.

const minMs = 0.01; // below this a sample lands in the zero bucket (10 µs is below our clock noise)
const maxMs = 3_600_000; // an hour: anything larger is clamped into the last bucket
const growth = 1.01; // each bucket is 1% wider than the one before: percentiles err by <=1%
const logGrowth = Math.log(growth);
const bucketCount = Math.ceil(Math.log(maxMs / minMs) / logGrowth) + 2; // ~1,950 buckets

export class Histogram {
  constructor() {
    this.counts = new Float64Array(bucketCount);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.negative = 0; // samples below zero (clock steps): counted, recorded as 0
  }

  /** Records one sample in milliseconds. */
  record(ms) {
    if (!Number.isFinite(ms)) return;
    if (ms < 0) {
      this.negative++;
      ms = 0;
    }
    this.counts[indexOf(ms)]++;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other) {
    for (let i = 0; i < bucketCount; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    this.negative += other.negative;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    return this;
  }

  /** The value below which `q` (0..1) of the samples fall; null when empty. */
  quantile(q) {
    if (this.count === 0) return null;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(Math.max(valueOf(i), this.min), this.max);
    }
    return this.max;
  }

  /** The shape every report uses: {count, mean, p50, p95, p99, max} in ms, rounded to 0.01. */
  summary() {
    const r = (v) => (v === null ? null : Math.round(v * 100) / 100);
    return {
      count: this.count,
      mean: this.count ? r(this.sum / this.count) : null,
      p50: r(this.quantile(0.5)),
      p95: r(this.quantile(0.95)),
      p99: r(this.quantile(0.99)),
      max: this.count ? r(this.max) : null,
    };
  }
}

function indexOf(ms) {
  if (ms < minMs) return 0;
  const i = 1 + Math.floor(Math.log(ms / minMs) / logGrowth);
  return i < bucketCount ? i : bucketCount - 1;
}

/** A representative value of bucket i: the geometric middle of its bounds. */
function valueOf(i) {
  if (i === 0) return 0;
  return minMs * Math.pow(growth, i - 0.5);
}
