/** Number formatting for display (exports use full precision instead). */
export { formatMetric } from '../src/shared/reportFindings';

/** Frequencies and means: four significant digits, exponent for tiny values. */
export function formatStat(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  if (Math.abs(value) < 1e-3) return value.toExponential(2);
  return value
    .toPrecision(4)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}
