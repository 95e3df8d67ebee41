/** Title, run facts, the "running" banner, warnings and export buttons. */
import type { SaeDiffReport } from '../src/shared/reportTypes';
import type { ExportKind, RunOutline } from '../src/shared/reportMessages';
import { h } from './dom';
import { renderParityBanner } from './trustBanners';

/** `live`: this page followed the run, so a complete report says the run finished (in the banner's place). */
export function renderHeader(report: SaeDiffReport, onExport: (kind: ExportKind) => void, live = false): HTMLElement {
  const names = report.comparisons.map((c) => c.sft.name).join(', ') || '(no fine-tune yet)';
  const run = report.run;
  const dataset = datasetName(report);
  // the SAEs read TransformerLens's centred stream (center_writing_weights) or its hook_z without value biases
  // (fold_value_biases), and so do the metrics
  const centred = (run.saes ?? []).filter((s) => s.centred).map((s) => s.layer);
  const folded = (run.saes ?? []).filter((s) => s.value_biases_folded).map((s) => s.layer);
  const layers = (ls: number[]) => `layer${ls.length > 1 ? 's' : ''} ${ls.join(', ')}`;
  const facts = [
    `${run.tokens} tokens${run.samples !== undefined ? ` from ${run.samples} prompts` : ''}${dataset ? ` of ${dataset}` : ''}`,
    run.bos_prepended ? `${run.bos_prepended.token} put first in ${run.bos_prepended.prompts}` : undefined,
    centred.length
      ? `${run.hook_point} centred as TransformerLens centres it (${layers(centred)})`
      : folded.length
        ? `${run.hook_point} without the value biases, as TransformerLens folds them (${layers(folded)})`
        : run.hook_point,
    `on ${run.execution_provider}`,
    run.duration_s !== undefined ? `${run.duration_s.toFixed(1)} s` : undefined,
    run.started_at ? new Date(run.started_at).toLocaleString() : undefined,
    run.fdr !== undefined ? `FDR ${run.fdr}` : undefined,
    report.noise_floor ? `noise floor: base vs ${report.noise_floor.reference.name}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  return h(
    'header',
    { class: 'report-header' },
    h(
      'div',
      { class: 'title-row' },
      h('h1', {}, h('span', { class: 'model-name' }, report.base.name), ' → ', h('span', { class: 'model-name' }, names)),
      exportButtons(onExport),
    ),
    h('p', { class: 'run-facts' }, facts),
    report.complete ? (live ? finishedBanner() : null) : partialBanner(report),
    (run.warnings ?? []).length > 0
      ? h('ul', { class: 'warnings', attrs: { 'aria-label': 'Warnings' } }, ...run.warnings.map((w) => h('li', {}, '⚠ ', w)))
      : null,
    renderParityBanner(report),
  );
}

/**
 * The prompts' source as the run recorded it (run.config.dataset): a file's name, or a Hugging Face dataset id (the
 * one relative value the engine records) with its split and subset.
 */
function datasetName(report: SaeDiffReport): string | undefined {
  const d = report.run.config?.dataset;
  if (!d?.path) return undefined;
  const absolute = d.path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(d.path) || d.path.startsWith('\\\\');
  if (absolute) return d.path.split(/[\\/]/).pop();
  const part = [d.split, d.subset].filter(Boolean);
  return part.length ? `${d.path} (${part.join(', ')})` : d.path;
}

function exportButton(text: string, title: string, kind: ExportKind, onExport?: (kind: ExportKind) => void): HTMLElement {
  return h(
    'vscode-button',
    { attrs: { appearance: 'secondary', title, 'data-export': kind, disabled: !onExport }, on: { click: () => onExport?.(kind) } },
    text,
  );
}

function exportButtons(onExport?: (kind: ExportKind) => void): HTMLElement {
  return h(
    'div',
    { class: 'export-buttons', attrs: { role: 'group', 'aria-label': 'Export' } },
    exportButton('Export CSV', 'Shifted features of all layers and fine-tunes as CSV', 'csv', onExport),
    exportButton('Export PNG', 'The layer profile as a print-resolution PNG (light background, title, model names)', 'png', onExport),
    exportButton('Export SVG', 'The layer profile as an SVG figure (one panel per metric)', 'svg', onExport),
    exportButton('Export HTML', 'A standalone HTML report: one file, works offline, same view', 'html', onExport),
    exportButton('Export Markdown', 'A Markdown summary of the run', 'markdown', onExport),
  );
}

/**
 * A run that has just started: its models, layers and report file, laid out like the report's header (same
 * rows, exports greyed until there is something to export), so the first numbers fill it without a jump.
 */
export function renderRunHeader(outline: RunOutline): HTMLElement {
  const layers = outline.layers.length === 1 ? `layer ${outline.layers[0]}` : `layers ${outline.layers.join(', ')}`;
  const facts = [
    layers,
    outline.hookPoint,
    outline.maxSamples !== undefined ? `up to ${outline.maxSamples} prompts` : undefined,
    outline.reference ? `noise floor: base vs ${outline.reference}` : undefined,
    `report: ${outline.report}`,
  ]
    .filter(Boolean)
    .join(' · ');
  return h(
    'header',
    { class: 'report-header', attrs: { 'data-testid': 'run-header' } },
    h(
      'div',
      { class: 'title-row' },
      h(
        'h1',
        {},
        h('span', { class: 'model-name' }, outline.base),
        ' → ',
        h('span', { class: 'model-name' }, outline.sfts.join(', ') || '(no fine-tune)'),
      ),
      exportButtons(),
    ),
    h('p', { class: 'run-facts' }, facts),
    runningBanner('Starting. ', 'Loading the models and SAEs; the layers fill in as the batches finish.', true),
  );
}

/** The run's live status: a ring, a sentence, a bar, and the latest progress line (main.ts keeps it current). */
function runningBanner(title: string, text: string, starting = false): HTMLElement {
  return h(
    'div',
    { class: 'running-banner', attrs: { role: 'status', 'data-testid': 'running-banner' } },
    h('vscode-progress-ring', { attrs: { 'aria-hidden': 'true' } }),
    h('span', { class: 'running-text', attrs: { 'data-starting': starting } }, h('b', {}, title), text),
    h('progress', { class: 'run-bar', attrs: { 'aria-label': 'Run progress', max: 1 } }),
    h('span', { class: 'run-progress', attrs: { 'data-testid': 'run-progress' } }),
  );
}

/** Where the running banner was: the view followed the run, which has now written this report. */
function finishedBanner(): HTMLElement {
  return h(
    'div',
    { class: 'running-banner finished', attrs: { role: 'status', 'data-testid': 'finished-banner' } },
    h(
      'span',
      { class: 'running-text' },
      h('b', {}, 'Run finished. '),
      'This is the report it wrote, with every shifted feature and its contexts.',
    ),
  );
}

/** A live run still in progress, or one shard of a sharded run (which will not change by itself). */
function partialBanner(report: SaeDiffReport): HTMLElement {
  const shard = report.shard && 'index' in report.shard ? report.shard : undefined;
  if (shard) {
    return h(
      'div',
      { class: 'running-banner', attrs: { role: 'status', 'data-testid': 'shard-banner' } },
      h(
        'span',
        {},
        h('b', {}, `Shard ${shard.index + 1} of ${shard.count}. `),
        'These numbers cover only this slice of the prompts; merge the shards (sae-diff merge) for the full report.',
      ),
    );
  }
  const done = Math.max(0, ...report.comparisons.map((c) => c.layers.length));
  return runningBanner('Run in progress. ', `${done} layer${done === 1 ? '' : 's'} so far; this view updates as the batches finish.`);
}
