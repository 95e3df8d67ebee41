/** Which shifted features the table shows, in which order. Pure: no DOM. */
import type { ShiftedFeature } from '../../src/shared/reportTypes';
import type { FeatureColumn } from '../../src/shared/reportMessages';

export interface RowQuery {
  sort: { column: FeatureColumn; descending: boolean };
  /** 'all' or one category. */
  categoryFilter: string;
  /** Case-insensitive substring of the label, or of the id. */
  textFilter: string;
  /** Only features that pass the significance filter. */
  significantOnly?: boolean;
}

export function selectRows(features: readonly ShiftedFeature[], query: RowQuery): ShiftedFeature[] {
  const needle = query.textFilter.trim().toLowerCase();
  const rows = features.filter(
    (feature) =>
      (query.categoryFilter === 'all' || feature.category === query.categoryFilter) &&
      (!query.significantOnly || feature.significant === true) &&
      (needle === '' || String(feature.id).includes(needle) || (feature.label ?? '').toLowerCase().includes(needle)),
  );
  const { column, descending } = query.sort;
  const direction = descending ? -1 : 1;
  // Stable tie-break on id keeps the order predictable when values repeat (e.g. many freq_base = 0).
  return rows.sort((a, b) => direction * compareValues(sortValue(a, column), sortValue(b, column)) || a.id - b.id);
}

/** Significance sorts as a number: significant 1, not significant 0, unknown -1. */
function sortValue(feature: ShiftedFeature, column: FeatureColumn): string | number | undefined {
  if (column === 'significant') return feature.significant === undefined ? -1 : Number(feature.significant);
  return feature[column];
}

function compareValues(a: string | number | undefined, b: string | number | undefined): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  // Missing labels sort after present ones.
  if (a === undefined || a === '') return b === undefined || b === '' ? 0 : 1;
  if (b === undefined || b === '') return -1;
  return String(a).localeCompare(String(b));
}
