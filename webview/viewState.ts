/** The view's state (what is selected, sorted, filtered) and its persistence across reloads. */
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { FEATURE_COLUMNS, type PersistedViewState } from '../src/shared/reportMessages';
import { hasSignificance } from '../src/shared/reportTrust';
import type { Host } from './vscodeApi';
import { LAYER_SERIES } from './chart/layerSeries';

export type ViewState = PersistedViewState;

export const DEFAULT_STATE: ViewState = {
  comparison: 0,
  layer: -1,
  sort: { column: 'mean_abs_diff', descending: true },
  categoryFilter: 'all',
  textFilter: '',
  significantOnly: false,
  hiddenComparisons: [],
  chartMetric: 'all',
};

/** Restored state may come from an older version or another report: keep only what still fits. */
export function sanitizeState(saved: Partial<ViewState> | undefined, report: SaeDiffReport | undefined): ViewState {
  const state: ViewState = { ...DEFAULT_STATE, ...saved, sort: { ...DEFAULT_STATE.sort, ...saved?.sort } };
  if (!FEATURE_COLUMNS.includes(state.sort.column)) state.sort = { ...DEFAULT_STATE.sort };
  if (state.chartMetric !== 'all' && !LAYER_SERIES.some((s) => s.key === state.chartMetric)) state.chartMetric = 'all';
  if (!report) return state;
  // A report without significance has no sig. column to sort or filter by.
  if (!hasSignificance(report)) {
    state.significantOnly = false;
    if (state.sort.column === 'significant') state.sort = { ...DEFAULT_STATE.sort };
  }
  const comparisons = report.comparisons.length;
  if (!(state.comparison >= 0 && state.comparison < comparisons)) state.comparison = 0;
  state.hiddenComparisons = (state.hiddenComparisons ?? []).filter(
    (index) => index >= 0 && index < comparisons && index !== state.comparison,
  );
  const layers = report.comparisons[state.comparison]?.layers ?? [];
  if (!layers.some((layer) => layer.layer === state.layer)) {
    // Open on the layer that diverges most: that is where a reader wants to look first.
    const top = [...layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0];
    state.layer = top?.layer ?? -1;
    state.selectedFeature = undefined;
  }
  return state;
}

export class ViewStore {
  constructor(
    private state: ViewState,
    private readonly host: Host,
  ) {}

  get current(): ViewState {
    return this.state;
  }

  /** Replaces the state and persists it, so a reloaded window reopens the same view. */
  set(state: ViewState): void {
    this.state = state;
    this.host.saveState(state);
  }
}
