import type { SaeDiffReport } from '../../shared/reportTypes';

/**
 * A partial report without the top activating contexts (about 80% of its bytes) and without the columns of
 * every shifted feature (all_shifted: up to the SAE width per layer) or their activation histograms, for the
 * live view. Every partial is deserialised on the editor's main thread; all come with the final report.
 */
export function withoutContexts(report: SaeDiffReport): SaeDiffReport {
  return {
    ...report,
    comparisons: report.comparisons.map((c) => ({
      ...c,
      layers: c.layers.map(({ all_shifted: _all, activation_histograms: _histograms, ...l }) => ({
        ...l,
        shifted_features: l.shifted_features.map(({ contexts: _contexts, ...feature }) => feature),
      })),
    })),
  };
}
