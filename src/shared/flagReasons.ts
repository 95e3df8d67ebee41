/**
 * Why a layer is or is not flagged: each flag's rule (docs/metrics.md) applied to the layer's numbers,
 * in words. No DOM or vscode imports.
 */
import type { LayerReport } from './reportTypes';
import { formatMetric, type Thresholds } from './reportFindings';

export interface FlagReason {
  flag: string;
  raised: boolean;
  because: string;
}

const f = (value: number) => formatMetric(value);

/** One line per known flag, plus any flag the report carries that this viewer does not know. */
export function flagReasons(layer: LayerReport, t: Thresholds): FlagReason[] {
  const flags = new Set(layer.flags);
  const suppressed = new Set(layer.flags_suppressed_by_floor ?? []);
  const evDrop = layer.explained_variance_base - layer.explained_variance_sft;
  const cosineHigh = layer.dense_cosine >= t.cosine_threshold;
  const overlapLow = layer.feature_overlap < t.overlap_threshold;
  const rules: { flag: string; because: string }[] = [
    {
      flag: 'hidden_shift',
      because: `dense cosine ${f(layer.dense_cosine)} ${cosineHigh ? '≥' : '<'} ${t.cosine_threshold} and overlap ${f(layer.feature_overlap)} ${overlapLow ? '<' : '≥'} ${t.overlap_threshold}` +
        (!cosineHigh && overlapLow ? ': the features changed, but so did the dense residual, so the change is not hidden' : ''),
    },
    { flag: 'divergent', because: `L1 divergence ${f(layer.l1_divergence)} ${layer.l1_divergence >= t.l1_divergence_threshold ? '≥' : '<'} ${t.l1_divergence_threshold}` },
    { flag: 'low_fidelity', because: `EV base ${f(layer.explained_variance_base)} ${layer.explained_variance_base < t.min_explained_variance ? '<' : '≥'} ${t.min_explained_variance}` },
    { flag: 'coverage_drop', because: `EV drop ${f(evDrop)} ${evDrop > t.coverage_drop_threshold ? '>' : '≤'} ${t.coverage_drop_threshold}` },
  ];
  const reasons: FlagReason[] = rules.map(({ flag, because }) => ({
    flag,
    raised: flags.has(flag as LayerReport['flags'][number]),
    because: suppressed.has(flag as LayerReport['flags'][number]) ? `${because}, but the layer is within the noise floor` : because,
  }));
  for (const flag of flags) {
    if (!rules.some((r) => r.flag === flag)) reasons.push({ flag, raised: true, because: 'written by the engine; this viewer does not know its rule' });
  }
  return reasons;
}
