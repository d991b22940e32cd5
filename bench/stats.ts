/** Percentiles of a sample, as the benchmarks report them. */

/** Median and tail of a sample (ms or whatever unit the sample is in); NaN when empty. */
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The nearest-rank percentiles of `values` (sorts a copy). */
export function summarize(values: readonly number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!);
  return { p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: rank(1) };
}

/** The median of `values`; NaN when empty. */
export function median(values: readonly number[]): number {
  return summarize(values).p50;
}
