import { HISTOGRAM_EDGES } from '../metrics/activationHistogram';
import type { LayerAccumulator } from '../metrics/layerAccumulator';
import type { ComparisonReport, ShiftedFeature } from '../../shared/reportTypes';

/**
 * Adds each layer's activation_histograms (docs/report-format.md): for every feature shifted at the layer in
 * any fine-tune, its histogram in base and in each fine-tune, so the feature page can overlay them all. A
 * layer whose accumulators came from parts without histograms (an older sae-diff) gets none.
 */
export function addActivationHistograms(
  comparisons: ComparisonReport[],
  shifted: Map<number, ShiftedFeature[]>[],
  accumulators: Map<number, LayerAccumulator>[],
): void {
  comparisons[0]?.layers.forEach((_, li) => {
    const layer = comparisons[0].layers[li].layer;
    const accs = comparisons.map((_, si) => accumulators[si].get(layer));
    if (accs.some((a) => !a || a.histogramsMissing)) return;
    const ids = [...new Set(shifted.flatMap((perLayer) => (perLayer.get(layer) ?? []).map((f) => f.id)))].sort((a, b) => a - b);
    comparisons.forEach((c, si) => {
      const acc = accs[si]!;
      c.layers[li].activation_histograms = {
        edges: [...HISTOGRAM_EDGES],
        id: ids,
        base: ids.map((f) => acc.histBase.feature(f)),
        sft: ids.map((f) => acc.histSft.feature(f)),
      };
    });
  });
}
