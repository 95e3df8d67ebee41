/**
 * Why a layer is or is not flagged: each flag's rule (docs/metrics.md) applied to the layer's numbers,
 * in words. No DOM or vscode imports.
 */
import { FLAGS, type Thresholds } from './layerMetrics';
import type { LayerReport } from './reportTypes';

export interface FlagReason {
  flag: string;
  raised: boolean;
  because: string;
}

/** One line per known flag, plus any flag the report carries that this viewer does not know. */
export function flagReasons(layer: LayerReport, t: Thresholds): FlagReason[] {
  const flags = new Set<string>(layer.flags);
  const suppressed = new Set<string>(layer.flags_suppressed_by_floor ?? []);
  const reasons: FlagReason[] = FLAGS.map((d) => {
    const because = d.because(layer, t);
    return {
      flag: d.flag,
      raised: flags.has(d.flag),
      because: suppressed.has(d.flag) ? `${because}, but the layer is within the noise floor` : because,
    };
  });
  for (const flag of flags) {
    if (!FLAGS.some((d) => d.flag === flag))
      reasons.push({ flag, raised: true, because: 'written by the engine; this viewer does not know its rule' });
  }
  return reasons;
}
