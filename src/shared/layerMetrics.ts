/**
 * The layer metrics and flags, once: what each is called, how it is drawn and exported, which threshold
 * it is judged against, and each flag's rule. The engine raises flags with FLAGS (metrics/finalize.ts); the
 * panel's chart, metrics table and "why flagged" list, the SVG figure and the Markdown export read the same
 * entries. Definitions live in docs/metrics.md; glossary keys are the metric and flag ids.
 * docs/adding-a-metric.md says which files a new metric touches. No DOM or vscode imports.
 */
import { formatMetric } from './formatMetric';
import type { LayerFlag, LayerReport } from './reportTypes';

/** The configured thresholds the flags are judged against (metrics.* in the config; defaults in the schema). */
export const THRESHOLD_KEYS = [
  'cosine_threshold',
  'overlap_threshold',
  'l1_divergence_threshold',
  'min_explained_variance',
  'coverage_drop_threshold',
] as const;
export type ThresholdKey = (typeof THRESHOLD_KEYS)[number];
export type Thresholds = Record<ThresholdKey, number>;

/** The per-layer numbers the engine computes from its accumulators (metrics/finalize.ts layerMetrics): report fields. */
export const LAYER_METRIC_FIELDS = [
  'dense_cosine',
  'recon_cosine',
  'feature_overlap',
  'active_jaccard',
  'l1_divergence',
  'norm_ratio',
  'l0_base',
  'l0_sft',
  'explained_variance_base',
  'explained_variance_sft',
] as const satisfies readonly (keyof LayerReport)[];
export type LayerMetricValues = Pick<LayerReport, (typeof LAYER_METRIC_FIELDS)[number]>;

/** Chart.js point styles: a second cue besides colour. */
export type PointStyle = 'circle' | 'rect' | 'triangle' | 'rectRot' | 'star' | 'cross' | 'crossRot' | 'rectRounded';

export interface LayerMetricDefinition {
  /** Report field (or derived quantity) and glossary key. */
  key: string;
  /** The name the chart, the metrics table and the SVG figure show. */
  label: string;
  /** The Markdown export's column title; absent: not a column of the Markdown layer table. */
  short?: string;
  point: PointStyle;
  /** Okabe-Ito colour on [light, dark] themes (pairs read together also differ in marker). */
  color: [string, string];
  value(layer: LayerReport): number;
  /** The configured threshold drawn for this metric, and its short name on the chart. */
  threshold?: { key: ThresholdKey; text: string };
}

/** Every plotted layer metric, in chart, table and export order. */
export const LAYER_METRICS: LayerMetricDefinition[] = [
  {
    key: 'dense_cosine',
    label: 'dense cosine',
    short: 'dense cos',
    point: 'circle',
    color: ['#0072B2', '#4aa3e0'],
    value: (l) => l.dense_cosine,
    threshold: { key: 'cosine_threshold', text: 'cosine' },
  },
  {
    key: 'recon_cosine',
    label: 'recon cosine',
    short: 'recon cos',
    point: 'rectRot',
    color: ['#3a8fb7', '#56B4E9'],
    value: (l) => l.recon_cosine,
  },
  {
    key: 'feature_overlap',
    label: 'feature overlap',
    short: 'overlap',
    point: 'rect',
    color: ['#E69F00', '#E69F00'],
    value: (l) => l.feature_overlap,
    threshold: { key: 'overlap_threshold', text: 'overlap' },
  },
  {
    key: 'active_jaccard',
    label: 'active Jaccard',
    short: 'active J',
    point: 'crossRot',
    color: ['#CC79A7', '#CC79A7'],
    value: (l) => l.active_jaccard,
  },
  {
    key: 'l1_divergence',
    label: 'L1 divergence',
    short: 'L1 div',
    point: 'triangle',
    color: ['#D55E00', '#ff7a2e'],
    value: (l) => l.l1_divergence,
    threshold: { key: 'l1_divergence_threshold', text: 'L1 div.' },
  },
  {
    key: 'explained_variance_base',
    label: 'EV base',
    short: 'EV base',
    point: 'rectRounded',
    color: ['#009E73', '#1fc99a'],
    value: (l) => l.explained_variance_base,
    threshold: { key: 'min_explained_variance', text: 'min EV' },
  },
  {
    key: 'explained_variance_sft',
    label: 'EV SFT',
    short: 'EV sft',
    point: 'star',
    color: ['#8a7d00', '#F0E442'],
    value: (l) => l.explained_variance_sft,
  },
  // Not a report field: coverage_drop is judged on this difference, so it is plotted to show its threshold.
  {
    key: 'coverage_drop',
    label: 'EV drop (base − SFT)',
    point: 'cross',
    color: ['#6b3fa0', '#b39ddb'],
    value: (l) => l.explained_variance_base - l.explained_variance_sft,
    threshold: { key: 'coverage_drop_threshold', text: 'coverage drop' },
  },
];

export interface FlagDefinition {
  flag: LayerFlag;
  /** The chart's marker code and the flag's words. */
  code: string;
  text: string;
  /** The engine's rule (docs/metrics.md) on a layer's metrics and the configured thresholds. */
  raised(m: LayerMetricValues, t: Thresholds): boolean;
  /** The rule applied to a layer, in words (the panel's "why flagged"). */
  because(layer: LayerReport, t: Thresholds): string;
  /** The findings sentence for the layers that carry the flag ("at layers 3 and 5"). */
  finding(where: string, t: Thresholds): string;
  /** Position among the findings sentences (most important first). */
  findingRank: number;
}

const f = (value: number) => formatMetric(value);

/** Every flag the engine raises, in the order it lists them. */
export const FLAGS: FlagDefinition[] = [
  {
    flag: 'hidden_shift',
    code: 'HS',
    text: 'hidden shift',
    findingRank: 1,
    raised: (m, t) => m.dense_cosine >= t.cosine_threshold && m.feature_overlap < t.overlap_threshold,
    because: (l, t) => {
      const cosineHigh = l.dense_cosine >= t.cosine_threshold,
        overlapLow = l.feature_overlap < t.overlap_threshold;
      return (
        `dense cosine ${f(l.dense_cosine)} ${cosineHigh ? '≥' : '<'} ${t.cosine_threshold} and overlap ${f(l.feature_overlap)} ${overlapLow ? '<' : '≥'} ${t.overlap_threshold}` +
        (!cosineHigh && overlapLow ? ': the features changed, but so did the dense residual, so the change is not hidden' : '')
      );
    },
    finding: (where, t) =>
      `Hidden shift at ${where}: the dense residual looks unchanged (cosine ≥ ${t.cosine_threshold}) ` +
      `but the top SAE features differ (overlap < ${t.overlap_threshold}).`,
  },
  {
    flag: 'divergent',
    code: 'DIV',
    text: 'divergent',
    findingRank: 0,
    raised: (m, t) => m.l1_divergence >= t.l1_divergence_threshold,
    because: (l, t) =>
      `L1 divergence ${f(l.l1_divergence)} ${l.l1_divergence >= t.l1_divergence_threshold ? '≥' : '<'} ${t.l1_divergence_threshold}`,
    finding: (where, t) => `Feature activity diverges strongly (L1 divergence ≥ ${t.l1_divergence_threshold}) at ${where}.`,
  },
  {
    flag: 'low_fidelity',
    code: 'LF',
    text: 'low fidelity',
    findingRank: 2,
    // written as !(x >= t): a NaN or infinite fit (an SAE with non-finite weights) is low fidelity, never "fine"
    raised: (m, t) =>
      !(m.explained_variance_base >= t.min_explained_variance) ||
      !Number.isFinite(m.explained_variance_base) ||
      !Number.isFinite(m.l0_base),
    because: (l, t) =>
      `EV base ${f(l.explained_variance_base)} ${l.explained_variance_base < t.min_explained_variance ? '<' : '≥'} ${t.min_explained_variance}`,
    finding: (where, t) =>
      `Do not trust the SAE at ${where}: it explains less than ${t.min_explained_variance} of the base model's variance there.`,
  },
  {
    flag: 'coverage_drop',
    code: 'CD',
    text: 'coverage drop',
    findingRank: 3,
    raised: (m, t) => m.explained_variance_base - m.explained_variance_sft > t.coverage_drop_threshold,
    because: (l, t) => {
      const drop = l.explained_variance_base - l.explained_variance_sft;
      return `EV drop ${f(drop)} ${drop > t.coverage_drop_threshold ? '>' : '≤'} ${t.coverage_drop_threshold}`;
    },
    finding: (where, t) =>
      `Coverage drop at ${where}: the fine-tune moved into directions the base dictionary cannot express ` +
      `(explained variance falls by more than ${t.coverage_drop_threshold}).`,
  },
];

/** A flag's entry; a flag this viewer does not know (a newer engine's) is shown as itself. */
export function flagInfo(flag: string): { code: string; text: string } {
  return FLAGS.find((d) => d.flag === flag) ?? { code: flag, text: flag };
}
