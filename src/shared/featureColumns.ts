/**
 * Every shifted feature of a layer as compact columns (report version 2, docs/report-format.md) and back
 * as rows. Shared by the engine (writes), the exports and the panel (read), so all three agree.
 * No DOM or vscode imports.
 */
import type { FeatureCategory, FeatureColumns, LayerReport, ShiftedFeature } from './reportTypes';

/** Rows (already ordered) to columns; optional columns only when some row has the field. */
export function toFeatureColumns(rows: readonly ShiftedFeature[]): FeatureColumns {
  const columns: FeatureColumns = {
    id: rows.map((f) => f.id),
    category: rows.map((f) => f.category),
    freq_base: rows.map((f) => f.freq_base),
    freq_sft: rows.map((f) => f.freq_sft),
    mean_base: rows.map((f) => f.mean_base),
    mean_sft: rows.map((f) => f.mean_sft),
    mean_abs_diff: rows.map((f) => f.mean_abs_diff),
  };
  if (rows.some((f) => f.q_value !== undefined)) columns.q_value = rows.map((f) => f.q_value ?? 1);
  if (rows.some((f) => f.significant !== undefined)) columns.significant = rows.map((f) => f.significant === true);
  if (rows.some((f) => f.near_threshold !== undefined)) columns.near_threshold = rows.map((f) => f.near_threshold === true);
  if (rows.some((f) => f.label !== undefined)) columns.label = rows.map((f) => f.label ?? null);
  return columns;
}

/**
 * Every shifted feature of a layer as rows: from all_shifted when the report has it (version 2), with
 * the detail of the top ones (contexts, intervals, logit effects) taken from shifted_features; else
 * (version 1) just shifted_features.
 */
export function allShiftedFeatures(layer: LayerReport): ShiftedFeature[] {
  const listed = Array.isArray(layer.shifted_features) ? layer.shifted_features : [];
  const c = layer.all_shifted;
  if (!c || !Array.isArray(c.id)) return listed;
  const detail = new Map(listed.map((f) => [f.id, f]));
  const rows: ShiftedFeature[] = [];
  for (let i = 0; i < c.id.length; i++) {
    const id = c.id[i];
    const row: ShiftedFeature = detail.get(id) ?? {
      id,
      category: c.category?.[i] as FeatureCategory,
      freq_base: c.freq_base?.[i],
      freq_sft: c.freq_sft?.[i],
      mean_base: c.mean_base?.[i],
      mean_sft: c.mean_sft?.[i],
      mean_abs_diff: c.mean_abs_diff?.[i],
      ...(c.q_value ? { q_value: c.q_value[i] } : {}),
      ...(c.significant ? { significant: c.significant[i] } : {}),
      ...(c.near_threshold?.[i] ? { near_threshold: true } : {}),
      ...(typeof c.label?.[i] === 'string' ? { label: c.label[i] as string } : {}),
    };
    rows.push(row);
  }
  return rows;
}

/** How many shifted features the layer has (all of them, whether listed in full or not). */
export function shiftedTotal(layer: LayerReport): number {
  return layer.all_shifted?.id?.length ?? layer.shifted_count ?? layer.shifted_features?.length ?? 0;
}
