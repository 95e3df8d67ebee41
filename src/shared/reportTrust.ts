/**
 * How far a report can be trusted: the SAE self-check, the noise floor, significance and the
 * inside/outside-the-dictionary decomposition. Every field is optional (older reports lack them), so each
 * helper returns nothing when its field is absent. Shared by the webview and the Markdown export, so both
 * say the same thing. No DOM or vscode imports.
 */
import type { ComparisonReport, FeatureCategory, LayerReport, SaeDiffReport } from './reportTypes';
import { flagInfo } from './layerMetrics';
import { formatMetric, layerList } from './reportFindings';

export const SELF_CHECK_FAILED_TEXT =
  'SAE self-check failed: the hook point, BOS handling or normalisation is probably wrong — read the diff with care';

/** Does the report carry per-feature significance (BH at run.fdr)? Then the panel shows the sig. column. */
export function hasSignificance(report: SaeDiffReport): boolean {
  if (report.run?.fdr !== undefined) return true;
  return report.comparisons.some((c) =>
    c.layers.some((l) => l.significant_counts !== undefined || l.shifted_features.some((f) => f.significant !== undefined)),
  );
}

/** Failing layers' self-check messages. The check is on base, so a layer shared by several fine-tunes is listed once. */
export function selfCheckFailures(report: SaeDiffReport): { layer: number; messages: string[] }[] {
  const byLayer = new Map<number, string[]>();
  for (const comparison of report.comparisons) {
    for (const layer of comparison.layers) {
      if (layer.self_check && !layer.self_check.ok && !byLayer.has(layer.layer)) byLayer.set(layer.layer, layer.self_check.messages ?? []);
    }
  }
  return [...byLayer].sort(([a], [b]) => a - b).map(([layer, messages]) => ({ layer, messages }));
}

export function sumCounts(counts: Record<FeatureCategory, number> | undefined): number | undefined {
  return counts ? Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0) : undefined;
}

export function formatPercent(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)}%` : String(share);
}

/** "inside the dictionary: 63% of ‖Δh‖²", or undefined when the layer has no decomposition. */
export function decompositionText(layer: LayerReport): string | undefined {
  const d = layer.decomposition;
  if (!d) return undefined;
  return (
    `inside the dictionary: ${formatPercent(d.fraction_inside)} of ‖Δh‖² ` +
    `(Δh·Δr ${formatMetric(d.inside)}, Δh·Δe ${formatMetric(d.outside)} of ${formatMetric(d.delta_sq)}); ` +
    `residual norm ${formatMetric(d.mean_norm_base)} → ${formatMetric(d.mean_norm_sft)}`
  );
}

/** "passed: …" or "FAILED: <messages> (measured …)", with the measured and declared L0 / explained variance. */
export function selfCheckText(layer: LayerReport): string | undefined {
  const check = layer.self_check;
  if (!check) return undefined;
  const declared = (value: number | undefined) => (value !== undefined ? ` (declared ${formatNumber(value)})` : '');
  const measured =
    `base L0 ${formatNumber(check.l0_base)}${declared(check.declared_l0)}, ` +
    `explained variance ${formatNumber(check.explained_variance_base)}${declared(check.declared_explained_variance)}`;
  if (check.ok) return `passed: ${measured}`;
  const messages = (check.messages ?? []).join(' ');
  return `FAILED: ${messages ? `${messages} — ` : ''}${measured}`;
}

/** Four significant digits without trailing zeros (412, 28.32, 0.785). */
function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(4))) : String(value);
}

/** "within the noise floor: not flagged (suppressed: divergent)" or "above the noise floor (…)". */
export function noiseFloorText(layer: LayerReport): string | undefined {
  const floor = layer.noise_floor;
  if (!floor && layer.within_noise_floor === undefined) return undefined;
  const values = floor
    ? ` (reference: L1 divergence ${formatMetric(floor.l1_divergence)}, overlap ${formatMetric(floor.feature_overlap)}, ` +
      `dense cosine ${formatMetric(floor.dense_cosine)}, recon cosine ${formatMetric(floor.recon_cosine)})`
    : '';
  if (!layer.within_noise_floor) return `above the noise floor${values}`;
  const suppressed = layer.flags_suppressed_by_floor ?? [];
  return `within the noise floor: not flagged${suppressed.length ? ` (suppressed: ${suppressed.map((f) => flagInfo(f).text).join(', ')})` : ''}${values}`;
}

/** Summary sentences for one fine-tune; empty for a report without trust fields. */
export function describeTrust(comparison: ComparisonReport, report: SaeDiffReport): string[] {
  const lines: string[] = [];
  const layers = comparison.layers;
  const checked = layers.filter((l) => l.self_check);
  const failed = checked.filter((l) => !l.self_check!.ok).map((l) => l.layer);
  if (failed.length > 0) lines.push(`SAE self-check failed at ${layerList(failed)}: do not trust the feature diff there.`);
  else if (checked.length > 0)
    lines.push(`SAE self-check passed at ${checked.length === layers.length ? 'every layer' : layerList(checked.map((l) => l.layer))}.`);

  const within = layers.filter((l) => l.within_noise_floor);
  if (within.length > 0) {
    const reference = report.noise_floor?.reference.name;
    const detail = within.map((l) =>
      (l.flags_suppressed_by_floor ?? []).length
        ? `layer ${l.layer} (suppressed: ${l.flags_suppressed_by_floor!.map((f) => flagInfo(f).text).join(', ')})`
        : `layer ${l.layer}`,
    );
    lines.push(`Within the noise floor${reference ? ` (base vs ${reference})` : ''}, so not flagged: ${detail.join(', ')}.`);
  }

  const significant = layers.map((l) => sumCounts(l.significant_counts)).filter((n): n is number => n !== undefined);
  if (significant.length > 0) {
    const shifted = layers.filter((l) => l.significant_counts).reduce((sum, l) => sum + (l.shifted_count ?? l.shifted_features.length), 0);
    const total = significant.reduce((sum, n) => sum + n, 0);
    const fdr = report.run?.fdr;
    lines.push(
      `${total} of ${shifted} shifted features are significant${fdr !== undefined ? ` at a false discovery rate of ${fdr}` : ''} (Benjamini–Hochberg).`,
    );
  }

  const near = layers.reduce((sum, l) => sum + l.shifted_features.filter((f) => f.near_threshold).length, 0);
  if (near > 0)
    lines.push(`${near} listed feature${near === 1 ? ' shifts' : 's shift'} within the activation threshold's margin: likely artefacts.`);
  return lines;
}
