/**
 * Plain-language findings from a report: which layers diverge most, where dense metrics hide a sparse
 * shift, where the SAE cannot be trusted. Shared by the webview summary and the Markdown export, so the
 * panel and the exported file say the same thing. No DOM or vscode imports.
 */
import { sectionDefaults } from './configDefaults';
import { formatMetric } from './formatMetric';
import { FLAGS, THRESHOLD_KEYS, type Thresholds } from './layerMetrics';
import type { ComparisonReport, LayerFlag, LayerReport, SaeDiffReport } from './reportTypes';

export { formatMetric } from './formatMetric';
export type { Thresholds } from './layerMetrics';

/** The schema's defaults (their one definition), used when a (partial or older) report's config lacks a key. */
export const DEFAULT_THRESHOLDS: Thresholds = pickThresholds(sectionDefaults('metrics'));

function pickThresholds(metrics: Record<string, unknown>): Thresholds {
  return Object.fromEntries(THRESHOLD_KEYS.map((k) => [k, metrics[k] as number])) as Thresholds;
}

export function reportThresholds(report: SaeDiffReport): Thresholds {
  const config = report.run?.config ?? {};
  // The resolved config may be stored flat or under the YAML's top-level key.
  const nested = (config as { diagnostic_pipeline?: Record<string, unknown> }).diagnostic_pipeline;
  const metrics = ((config as { metrics?: unknown }).metrics ?? nested?.metrics ?? {}) as Record<string, unknown>;
  const result = { ...DEFAULT_THRESHOLDS };
  for (const key of Object.keys(result) as (keyof Thresholds)[]) {
    if (typeof metrics[key] === 'number') result[key] = metrics[key] as number;
  }
  return result;
}

export interface ComparisonFindings {
  name: string;
  /** Layers by l1_divergence, highest first (at most three, only those above zero). */
  mostDivergent: LayerReport[];
  /** The layers carrying each flag (layerMetrics.ts FLAGS). */
  flagged: Partial<Record<LayerFlag, number[]>>;
}

export function findComparison(comparison: ComparisonReport): ComparisonFindings {
  const withFlag = (flag: LayerFlag) => comparison.layers.filter((layer) => layer.flags.includes(flag)).map((layer) => layer.layer);
  const mostDivergent = [...comparison.layers]
    .filter((layer) => layer.l1_divergence > 0)
    .sort((a, b) => b.l1_divergence - a.l1_divergence || a.layer - b.layer)
    .slice(0, 3);
  return {
    name: comparison.sft.name,
    mostDivergent,
    flagged: Object.fromEntries(FLAGS.map((d) => [d.flag, withFlag(d.flag)])),
  };
}

/** Short sentences for one fine-tune, most important first. */
export function describeFindings(findings: ComparisonFindings, thresholds: Thresholds): string[] {
  const lines: string[] = [];
  if (findings.mostDivergent.length > 0) {
    const list = findings.mostDivergent.map((l) => `layer ${l.layer} (L1 ${formatMetric(l.l1_divergence)})`);
    lines.push(`Diverges most at ${list.join(', ')}.`);
  }
  for (const d of [...FLAGS].sort((a, b) => a.findingRank - b.findingRank)) {
    const layers = findings.flagged[d.flag] ?? [];
    if (layers.length > 0) lines.push(d.finding(layerList(layers), thresholds));
  }
  if (lines.length === 0) lines.push('No layer shows a measurable shift.');
  return lines;
}

export function layerList(layers: number[]): string {
  if (layers.length === 1) return `layer ${layers[0]}`;
  return `layers ${layers.slice(0, -1).join(', ')} and ${layers[layers.length - 1]}`;
}

/** Sentences comparing several fine-tunes (from report.fine_tune_comparison), or none for a single one. */
export function describeFineTuneComparison(report: SaeDiffReport): string[] {
  const comparison = report.fine_tune_comparison;
  if (!comparison) return [];
  const lines = comparison.profiles.map(
    (profile) =>
      `${profile.sft} peaks at layer ${profile.peak_layer}, which holds ${formatPercent(profile.peak_share)} of its L1 divergence ` +
      `(concentration ${formatMetric(profile.concentration)}: 0 = spread evenly over layers, 1 = all in one layer).`,
  );
  for (const pair of comparison.profile_similarity) {
    lines.push(
      `${pair.a} and ${pair.b} have ${pair.cosine >= 0.9 ? 'similar' : 'different'} divergence profiles (cosine ${formatMetric(pair.cosine)}).`,
    );
  }
  const shared = Object.values(comparison.shared_count ?? {}).reduce((sum, count) => sum + count, 0);
  if (shared > 0)
    lines.push(`Summed over layers, ${shared} shifted feature${shared === 1 ? ' is' : 's are'} shared by two or more fine-tunes.`);
  return lines;
}

function formatPercent(share: number): string {
  return `${Math.round(share * 100)}%`;
}
