import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { FEATURE_ABS_TOL, FEATURE_REL_TOL, LAYER_TOL } from './golden';

/**
 * Every difference between two reports' results: numbers beyond the tolerances of docs/metrics.md (layer metrics
 * 2e-3 absolute; anything else 1e-3 relative or 1e-6 absolute), anything else (ids, categories, flags,
 * context positions, significance) unequal.
 */
export function reportDifferences(a: unknown, b: unknown, where = ''): string[] {
  if (typeof a === 'number' && typeof b === 'number') {
    const d = Math.abs(a - b);
    const layerKey =
      /\.layers\[\d+\]\.(dense_cosine|recon_cosine|feature_overlap|active_jaccard|l1_divergence|norm_ratio|l0_base|l0_sft|explained_variance_base|explained_variance_sft)$/.test(
        where,
      );
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
