/** What the layer chart plots: one series per metric, the threshold each is judged against, flag codes. */
import type { LayerFlag, LayerReport } from '../../src/shared/reportTypes';
import type { Thresholds } from '../../src/shared/reportFindings';

export interface SeriesDefinition {
  key: string;
  label: string;
  /** Marker shape: a second cue besides colour. */
  point: 'circle' | 'rect' | 'triangle' | 'rectRot' | 'star' | 'cross' | 'crossRot' | 'rectRounded';
  value(layer: LayerReport): number;
  /** The configured threshold drawn for this series, and how it is compared. */
  threshold?: { key: keyof Thresholds; text: string };
}

export const LAYER_SERIES: SeriesDefinition[] = [
  { key: 'dense_cosine', label: 'dense cosine', point: 'circle', value: (l) => l.dense_cosine, threshold: { key: 'cosine_threshold', text: 'cosine' } },
  { key: 'recon_cosine', label: 'recon cosine', point: 'rectRot', value: (l) => l.recon_cosine },
  { key: 'feature_overlap', label: 'feature overlap', point: 'rect', value: (l) => l.feature_overlap, threshold: { key: 'overlap_threshold', text: 'overlap' } },
  { key: 'active_jaccard', label: 'active Jaccard', point: 'crossRot', value: (l) => l.active_jaccard },
  { key: 'l1_divergence', label: 'L1 divergence', point: 'triangle', value: (l) => l.l1_divergence, threshold: { key: 'l1_divergence_threshold', text: 'L1 div.' } },
  { key: 'explained_variance_base', label: 'EV base', point: 'rectRounded', value: (l) => l.explained_variance_base, threshold: { key: 'min_explained_variance', text: 'min EV' } },
  { key: 'explained_variance_sft', label: 'EV SFT', point: 'star', value: (l) => l.explained_variance_sft },
  // Not a report field: coverage_drop is judged on this difference, so it is plotted to show its threshold.
  { key: 'coverage_drop', label: 'EV drop (base − SFT)', point: 'cross', value: (l) => l.explained_variance_base - l.explained_variance_sft, threshold: { key: 'coverage_drop_threshold', text: 'coverage drop' } },
];

export const FLAG_CODES: Record<LayerFlag, { code: string; text: string }> = {
  hidden_shift: { code: 'HS', text: 'hidden shift' },
  divergent: { code: 'DIV', text: 'divergent' },
  low_fidelity: { code: 'LF', text: 'low fidelity' },
  coverage_drop: { code: 'CD', text: 'coverage drop' },
};

/** A flag's code and text; a flag this viewer does not know (a newer engine's) is shown as itself. */
export function flagCode(flag: string): { code: string; text: string } {
  return (FLAG_CODES as Record<string, { code: string; text: string }>)[flag] ?? { code: flag, text: flag };
}

/**
 * Optional series from the trust fields, drawn only when some layer has them. The noise floor (base vs the
 * reference model) does not depend on the fine-tune, so it is drawn once, dotted, in its metric's colour.
 */
export interface TrustSeries {
  key: string;
  label: string;
  /** Theme colour key (themeColors SERIES_VARIABLES). */
  color: string;
  value(layer: LayerReport): number | undefined;
  floor: boolean;
}

export const TRUST_SERIES: TrustSeries[] = [
  { key: 'floor_l1_divergence', label: 'noise floor: L1 divergence', color: 'l1_divergence', value: (l) => l.noise_floor?.l1_divergence, floor: true },
  { key: 'floor_feature_overlap', label: 'noise floor: feature overlap', color: 'feature_overlap', value: (l) => l.noise_floor?.feature_overlap, floor: true },
  { key: 'fraction_inside', label: 'inside dictionary (share of ‖Δh‖²)', color: 'fraction_inside', value: (l) => l.decomposition?.fraction_inside, floor: false },
];

export const FLOOR_DASH = [2, 4];

/** Line styles that tell overlaid fine-tunes apart (colour already encodes the metric). */
export const COMPARISON_DASHES: number[][] = [[], [8, 4], [2, 3], [12, 3, 2, 3]];
