/**
 * One feature's activation histograms from a report (version 3, docs/report-format.md): base and every
 * fine-tune that has the feature at that layer, on the layer's shared bin edges. Shared by the panel and
 * tests. No DOM or vscode imports.
 */
import type { SaeDiffReport } from './reportTypes';

export interface HistogramSeries {
  /** 'base' or the fine-tune's name. */
  name: string;
  role: 'base' | 'sft';
  /** Index of the fine-tune in report.comparisons (sft only). */
  comparison?: number;
  /** Firing activations per bin (edges.length + 1 bins). */
  counts: number[];
}

export interface FeatureHistograms {
  edges: number[];
  series: HistogramSeries[];
}

/**
 * The histograms of feature `id` at `layer`: base (from the shown fine-tune's layer; base is the same in
 * every comparison) first, then each fine-tune in report order. Undefined when the report has none for it.
 */
export function featureHistograms(report: SaeDiffReport, shown: number, layer: number, id: number): FeatureHistograms | undefined {
  const rowOf = (ci: number) => {
    const h = report.comparisons[ci]?.layers?.find((l) => l.layer === layer)?.activation_histograms;
    const i = h?.id?.indexOf(id) ?? -1;
    return h && i >= 0 ? { h, i } : undefined;
  };
  const own = rowOf(shown);
  if (!own) return undefined;
  const series: HistogramSeries[] = [{ name: report.base?.name ?? 'base', role: 'base', counts: own.h.base[own.i] }];
  report.comparisons.forEach((c, ci) => {
    const row = rowOf(ci);
    if (row && row.h.edges.length === own.h.edges.length)
      series.push({ name: c.sft.name, role: 'sft', comparison: ci, counts: row.h.sft[row.i] });
  });
  return { edges: own.h.edges, series };
}
