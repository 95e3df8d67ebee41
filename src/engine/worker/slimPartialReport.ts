import type { SaeDiffReport } from '../report/types';

/**
 * A partial report without the top activating contexts (about 80% of its bytes), for the live view.
 * Every partial is deserialised on the editor's main thread; the contexts come with the final report.
 */
export function withoutContexts(report: SaeDiffReport): SaeDiffReport {
  return {
    ...report,
    comparisons: report.comparisons.map((c) => ({
      ...c,
      layers: c.layers.map((l) => ({
        ...l,
        shifted_features: l.shifted_features.map(({ contexts: _contexts, ...feature }) => feature),
      })),
    })),
  };
}
