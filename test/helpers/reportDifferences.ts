import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { LAYER_METRIC_FIELDS } from '../../src/shared/layerMetrics';
import { FEATURE_ABS_TOL, FEATURE_REL_TOL, LAYER_TOL } from './golden';

/** A layer metric's path in a report (docs/metrics.md gives layer metrics their own tolerance). */
const LAYER_METRIC_PATH = new RegExp(`\\.layers\\[\\d+\\]\\.(${LAYER_METRIC_FIELDS.join('|')})$`);

/**
 * Every difference between two reports' results: numbers beyond the tolerances of docs/metrics.md (layer metrics
 * 2e-3 absolute; anything else 1e-3 relative or 1e-6 absolute), anything else (ids, categories, flags,
 * context positions, significance) unequal.
 */
export function reportDifferences(a: unknown, b: unknown, where = ''): string[] {
  if (typeof a === 'number' && typeof b === 'number') {
    const d = Math.abs(a - b);
    const layerKey = LAYER_METRIC_PATH.test(where);
    const ok = layerKey ? d <= LAYER_TOL : d <= FEATURE_ABS_TOL || d <= FEATURE_REL_TOL * Math.abs(b);
    return ok ? [] : [`${where}: ${a} vs ${b}`];
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => reportDifferences((a as any)[k], (b as any)[k], Array.isArray(a) ? `${where}[${k}]` : `${where}.${k}`));
  }
  return a === b ? [] : [`${where}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}
/** What two runs of one config must agree on (not timings, paths or provider). */
export const results = (r: SaeDiffReport) => ({
  tokens: r.run.tokens,
  self_check_failed: r.run.self_check_failed,
  comparisons: r.comparisons,
  noise_floor: r.noise_floor,
});
