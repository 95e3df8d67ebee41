/**
 * Report exports as plain text: shifted features as CSV and a Markdown summary of a run.
 * No DOM or vscode imports, so the extension, the CLI and the tests share one implementation.
 */
import { describeFindings, describeFineTuneComparison, findComparison, formatMetric, reportThresholds } from './reportFindings';
import { SELF_CHECK_FAILED_TEXT, decompositionText, describeTrust, formatPercent, selfCheckFailures, sumCounts } from './reportTrust';
import { allShiftedFeatures } from './featureColumns';
import { LAYER_METRICS } from './layerMetrics';
import type { LayerReport, SaeDiffReport, ShiftedFeature } from './reportTypes';

export const SHIFTED_FEATURE_CSV_COLUMNS = [
  'sft',
  'layer',
  'id',
  'label',
  'category',
  'freq_base',
  'freq_sft',
  'mean_base',
  'mean_sft',
  'mean_abs_diff',
  'significant',
  'q_value',
] as const;

/** Every shifted feature (all of them, version 2) of every fine-tune and layer, one row each (RFC 4180, CRLF line ends). */
export function shiftedFeaturesToCsv(report: SaeDiffReport): string {
  const rows: string[] = [SHIFTED_FEATURE_CSV_COLUMNS.join(',')];
  for (const comparison of report.comparisons) {
    for (const layer of comparison.layers) {
      for (const feature of allShiftedFeatures(layer)) {
        rows.push(
          [
            comparison.sft.name,
            layer.layer,
            feature.id,
            feature.label ?? '',
            feature.category,
            feature.freq_base,
            feature.freq_sft,
            feature.mean_base,
            feature.mean_sft,
            feature.mean_abs_diff,
            feature.significant ?? '',
            feature.q_value ?? '',
          ]
            .map(csvCell)
            .join(','),
        );
      }
    }
  }
  return rows.join('\r\n') + '\r\n';
}

/**
 * Every cell goes through here, whatever column it is in: a report is untrusted input, and a "numeric"
 * field may hold text. A real number is written in JavaScript's shortest round-trip form (parsing it gives
 * back the same double); anything else is text: a leading = + - @ or control character (a spreadsheet
 * formula) gets an apostrophe (OWASP "CSV injection"), and commas, quotes and line breaks are quoted.
 */
export function csvCell(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const text = value === null || value === undefined ? '' : String(value);
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A readable summary of a run: setup, findings per fine-tune, per-layer metrics, top shifted features. */
export function reportToMarkdown(report: SaeDiffReport, options: { topFeatures?: number } = {}): string {
  const topFeatures = options.topFeatures ?? 10;
  const thresholds = reportThresholds(report);
  const out: string[] = [];
  out.push(`# SAE Diff report: ${mdText(report.base.name)}`, '');
  if (!report.complete) out.push('> **Partial report**: the run had not finished when this was written.', '');
  if (report.run.self_check_failed) {
    out.push(`> **${mdText(SELF_CHECK_FAILED_TEXT)}**`);
    for (const failure of selfCheckFailures(report))
      out.push(`> - Layer ${failure.layer}: ${mdText(failure.messages.join(' ') || 'failed')}`);
    out.push('');
  }
  out.push(
    `- Base model: ${mdText(report.base.name)} (\`${mdCode(report.base.path)}\`)`,
    `- Fine-tunes: ${report.comparisons.map((c) => mdText(c.sft.name)).join(', ') || 'none'}`,
    `- Tokens evaluated: ${report.run.tokens}${report.run.samples !== undefined ? ` from ${report.run.samples} samples` : ''}`,
    `- Hook point: ${mdText(report.run.hook_point ?? 'resid_post')}; execution provider: ${mdText(report.run.execution_provider)}`,
    `- Started ${mdText(report.run.started_at)}, took ${report.run.duration_s.toFixed(1)} s (sae-diff ${mdText(report.run.tool_version)})`,
    `- Thresholds: cosine ${thresholds.cosine_threshold}, overlap ${thresholds.overlap_threshold}, ` +
      `L1 divergence ${thresholds.l1_divergence_threshold}, min explained variance ${thresholds.min_explained_variance}, ` +
      `coverage drop ${thresholds.coverage_drop_threshold}`,
  );
  if (report.run.fdr !== undefined) out.push(`- Significance: Benjamini–Hochberg at a false discovery rate of ${report.run.fdr}`);
  if (report.noise_floor)
    out.push(`- Noise floor: base vs ${mdText(report.noise_floor.reference.name)} (\`${mdCode(report.noise_floor.reference.path)}\`)`);
  out.push('');
  for (const warning of report.run.warnings ?? []) out.push(`> Warning: ${mdText(warning)}`, '');
  for (const warning of report.run.parity_warnings ?? []) out.push(`> Parity warning: ${mdText(warning)}`, '');
  const across = describeFineTuneComparison(report);
  if (across.length > 0) out.push('## Fine-tunes compared', '', ...across.map((line) => `- ${mdText(line)}`), '');

  for (const comparison of report.comparisons) {
    out.push(`## ${mdText(comparison.sft.name)}`, '');
    for (const line of describeFindings(findComparison(comparison), thresholds)) out.push(`- ${line}`);
    for (const line of describeTrust(comparison, report)) out.push(`- ${mdText(line)}`);
    out.push('', layerTable(comparison.layers), '');
    for (const layer of comparison.layers) {
      if (layer.shifted_features.length === 0) continue;
      const shown = layer.shifted_features.slice(0, topFeatures);
      out.push(
        `### Layer ${layer.layer}: top ${shown.length} of ${layer.shifted_count ?? layer.shifted_features.length} shifted features`,
        '',
      );
      const notes = layerNotes(layer);
      if (notes.length > 0) out.push(...notes, '');
      out.push(featureTable(shown), '');
    }
  }
  return out.join('\n');
}

/** Trust columns appended to the layer table when some layer has the field (older reports: none). */
const LAYER_TRUST_COLUMNS: { title: string; align: string; cell(layer: LayerReport): string | undefined }[] = [
  { title: 'significant', align: '---:', cell: (l) => sumCounts(l.significant_counts)?.toString() },
  { title: 'inside dict.', align: '---:', cell: (l) => (l.decomposition ? formatPercent(l.decomposition.fraction_inside) : undefined) },
  {
    title: 'noise floor',
    align: '---',
    cell: (l) =>
      l.within_noise_floor === undefined && !l.noise_floor
        ? undefined
        : l.within_noise_floor
          ? `within${(l.flags_suppressed_by_floor ?? []).length ? ` (suppressed: ${l.flags_suppressed_by_floor!.join(', ')})` : ''}`
          : 'above',
  },
  { title: 'self-check', align: '---', cell: (l) => (l.self_check ? (l.self_check.ok ? 'ok' : 'FAILED') : undefined) },
];

function layerTable(layers: LayerReport[]): string {
  const trust = LAYER_TRUST_COLUMNS.filter((column) => layers.some((layer) => column.cell(layer) !== undefined));
  const metrics = LAYER_METRICS.filter((m) => m.short !== undefined);
  const header = `| layer |${metrics.map((m) => ` ${m.short} |`).join('')} shifted | flags |` + trust.map((c) => ` ${c.title} |`).join('');
  const rule = `|---:|${metrics.map(() => '---:|').join('')}---:|---|` + trust.map((c) => `${c.align}|`).join('');
  const rows = layers.map(
    (l) =>
      `| ${l.layer} |${metrics.map((m) => ` ${formatMetric(m.value(l))} |`).join('')} ${l.shifted_count ?? l.shifted_features.length} | ${l.flags.join(', ')} |` +
      trust.map((c) => ` ${c.cell(l) ?? ''} |`).join(''),
  );
  return [header, rule, ...rows].join('\n');
}

/** Per layer: the decomposition sentence and failing self-check messages, under the layer's feature table. */
function layerNotes(layer: LayerReport): string[] {
  const notes: string[] = [];
  const decomposition = decompositionText(layer);
  if (decomposition) notes.push(`- Decomposition: ${mdText(decomposition)}`);
  if (layer.self_check && !layer.self_check.ok)
    notes.push(`- SAE self-check FAILED: ${mdText((layer.self_check.messages ?? []).join(' '))}`);
  return notes;
}

function featureTable(features: ShiftedFeature[]): string {
  // Significance columns only when the report has them; ⚠ marks a near-threshold (likely artefact) category.
  const sig = features.some((f) => f.significant !== undefined || f.q_value !== undefined);
  const header = '| id | label | category | freq base | freq sft | mean base | mean sft | mean abs diff |' + (sig ? ' sig. | q |' : '');
  const rule = '|---:|---|---|---:|---:|---:|---:|---:|' + (sig ? ':---:|---:|' : '');
  const rows = features.map(
    (f) =>
      `| ${f.id} | ${mdText(f.label ?? '')} | ${f.category}${f.near_threshold ? ' ⚠ near threshold' : ''} | ${formatMetric(f.freq_base)} | ${formatMetric(f.freq_sft)} | ` +
      `${formatMetric(f.mean_base)} | ${formatMetric(f.mean_sft)} | ${formatMetric(f.mean_abs_diff)} |` +
      (sig
        ? ` ${f.significant === undefined ? '' : f.significant ? '✓' : '–'} | ${f.q_value === undefined ? '' : formatMetric(f.q_value)} |`
        : ''),
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
