/** What the layer chart plots: one series per metric of the registry (src/shared/layerMetrics.ts), and the trust series. */
import type { LayerReport } from '../../src/shared/reportTypes';
import { LAYER_METRICS, type LayerMetricDefinition } from '../../src/shared/layerMetrics';

export type SeriesDefinition = LayerMetricDefinition;

export const LAYER_SERIES: SeriesDefinition[] = LAYER_METRICS;

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
  {
    key: 'floor_l1_divergence',
    label: 'noise floor: L1 divergence',
    color: 'l1_divergence',
    value: (l) => l.noise_floor?.l1_divergence,
    floor: true,
  },
  {
    key: 'floor_feature_overlap',
    label: 'noise floor: feature overlap',
    color: 'feature_overlap',
    value: (l) => l.noise_floor?.feature_overlap,
    floor: true,
  },
  {
    key: 'fraction_inside',
    label: 'inside dictionary (share of ‖Δh‖²)',
    color: 'fraction_inside',
    value: (l) => l.decomposition?.fraction_inside,
    floor: false,
  },
];

export const FLOOR_DASH = [2, 4];

/** Line styles that tell overlaid fine-tunes apart (colour already encodes the metric). */
export const COMPARISON_DASHES: number[][] = [[], [8, 4], [2, 3], [12, 3, 2, 3]];
