/**
 * Report exports as plain text: shifted features as CSV and a Markdown summary of a run.
 * No DOM or vscode imports, so the extension, the CLI and the tests share one implementation.
 */
import { describeFindings, describeFineTuneComparison, findComparison, formatMetric, reportThresholds } from '../../shared/reportFindings';
import type { LayerReport, SaeDiffReport, ShiftedFeature } from './types';

export const SHIFTED_FEATURE_CSV_COLUMNS = [
  'sft', 'layer', 'id', 'label', 'category', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff',
] as const;

/** Every shifted feature of every fine-tune and layer, one row each (RFC 4180, CRLF line ends). */
export function shiftedFeaturesToCsv(report: SaeDiffReport): string {
  const rows: string[] = [SHIFTED_FEATURE_CSV_COLUMNS.join(',')];
  for (const comparison of report.comparisons) {
    for (const layer of comparison.layers) {
      for (const feature of layer.shifted_features) {
        rows.push(
          [
            csvText(comparison.sft.name),
            csvNumber(layer.layer),
            csvNumber(feature.id),
            csvText(feature.label ?? ''),
            csvText(feature.category),
            csvNumber(feature.freq_base),
            csvNumber(feature.freq_sft),
            csvNumber(feature.mean_base),
            csvNumber(feature.mean_sft),
            csvNumber(feature.mean_abs_diff),
          ].join(','),
        );
      }
    }
  }
  return rows.join('\r\n') + '\r\n';
}

/** JavaScript's shortest round-trip representation: parsing it gives back the same double. */
function csvNumber(value: number): string {
  return String(value);
}

function csvText(value: string): string {
  // A cell starting with = + - @ (or a control char) is a formula in spreadsheets; a leading
  // apostrophe keeps an untrusted label from running as one (OWASP "CSV injection").
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A readable summary of a run: setup, findings per fine-tune, per-layer metrics, top shifted features. */
export function reportToMarkdown(report: SaeDiffReport, options: { topFeatures?: number } = {}): string {
  const topFeatures = options.topFeatures ?? 10;
  const thresholds = reportThresholds(report);
  const out: string[] = [];
  out.push(`# SAE Diff report: ${mdText(report.base.name)}`, '');
  if (!report.complete) out.push('> **Partial report**: the run had not finished when this was written.', '');
  out.push(
    `- Base model: ${mdText(report.base.name)} (\`${mdCode(report.base.path)}\`)`,
    `- Fine-tunes: ${report.comparisons.map((c) => mdText(c.sft.name)).join(', ') || 'none'}`,
    `- Tokens evaluated: ${report.run.tokens}${report.run.samples !== undefined ? ` from ${report.run.samples} samples` : ''}`,
    `- Hook point: ${mdText(report.run.hook_point ?? 'resid_post')}; execution provider: ${mdText(report.run.execution_provider)}`,
    `- Started ${mdText(report.run.started_at)}, took ${report.run.duration_s.toFixed(1)} s (sae-diff ${mdText(report.run.tool_version)})`,
    `- Thresholds: cosine ${thresholds.cosine_threshold}, overlap ${thresholds.overlap_threshold}, ` +
      `L1 divergence ${thresholds.l1_divergence_threshold}, min explained variance ${thresholds.min_explained_variance}, ` +
      `coverage drop ${thresholds.coverage_drop_threshold}`,
    '',
  );
  for (const warning of report.run.warnings ?? []) out.push(`> Warning: ${mdText(warning)}`, '');
  const across = describeFineTuneComparison(report);
  if (across.length > 0) out.push('## Fine-tunes compared', '', ...across.map((line) => `- ${mdText(line)}`), '');

  for (const comparison of report.comparisons) {
    out.push(`## ${mdText(comparison.sft.name)}`, '');
    for (const line of describeFindings(findComparison(comparison), thresholds)) out.push(`- ${line}`);
    out.push('', layerTable(comparison.layers), '');
    for (const layer of comparison.layers) {
      if (layer.shifted_features.length === 0) continue;
      const shown = layer.shifted_features.slice(0, topFeatures);
      out.push(`### Layer ${layer.layer}: top ${shown.length} of ${layer.shifted_count ?? layer.shifted_features.length} shifted features`, '');
      out.push(featureTable(shown), '');
    }
  }
  return out.join('\n');
}

function layerTable(layers: LayerReport[]): string {
  const header = '| layer | dense cos | recon cos | overlap | active J | L1 div | EV base | EV sft | shifted | flags |';
  const rule = '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const rows = layers.map((l) =>
    `| ${l.layer} | ${formatMetric(l.dense_cosine)} | ${formatMetric(l.recon_cosine)} | ${formatMetric(l.feature_overlap)} | ` +
      `${formatMetric(l.active_jaccard)} | ${formatMetric(l.l1_divergence)} | ${formatMetric(l.explained_variance_base)} | ` +
      `${formatMetric(l.explained_variance_sft)} | ${l.shifted_count ?? l.shifted_features.length} | ${l.flags.join(', ')} |`,
  );
  return [header, rule, ...rows].join('\n');
}

function featureTable(features: ShiftedFeature[]): string {
  const header = '| id | label | category | freq base | freq sft | mean base | mean sft | mean abs diff |';
  const rule = '|---:|---|---|---:|---:|---:|---:|---:|';
  const rows = features.map((f) =>
    `| ${f.id} | ${mdText(f.label ?? '')} | ${f.category} | ${formatMetric(f.freq_base)} | ${formatMetric(f.freq_sft)} | ` +
      `${formatMetric(f.mean_base)} | ${formatMetric(f.mean_sft)} | ${formatMetric(f.mean_abs_diff)} |`,
  );
  return [header, rule, ...rows].join('\n');
}

/** Untrusted text (labels, names) as literal Markdown: no markup, no HTML, no table breaks. */
function mdText(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').replace(/[\\`*_[\]|<>&~]/g, (c) => `\\${c}`);
}

function mdCode(value: string): string {
  return value.replace(/`/g, "'").replace(/[\r\n]+/g, ' ');
}
