/**
 * Report panel entry point: receives the report from the extension, lays out the sections, and routes
 * view-state changes to the sections they affect.
 */
import './styles.css';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import type { ExportKind, HostMessage, RunOutline, RunProgressView } from '../src/shared/reportMessages';
import { LayerChart } from './chart/layerChart';
import { h, replaceChildren } from './dom';
import { FeaturesPanel } from './features/featuresPanel';
import { renderHeader, renderRunHeader } from './header';
import { renderGlossary } from './glossary';
import { printPng } from './chart/printPng';
import { CompareView } from './compare/compareView';
import { reportProblem } from '../src/shared/reportCheck';
import { renderMetricsTable } from './metricsTable';
import { renderSummary } from './summary';
import { registerToolkit } from './toolkit';
import { sanitizeState, ViewStore, type ViewState } from './viewState';
import { renderSelfCheckBanner } from './trustBanners';
import { connectToHost } from './vscodeApi';

registerToolkit();
const host = connectToHost();
const app = document.getElementById('app') as HTMLElement;
const store = new ViewStore(sanitizeState(host.loadState(), undefined), host);

let report: SaeDiffReport | undefined;
let layout: Layout | undefined;
/** This page follows a run (it got the run's outline or a partial report); its latest progress line. */
let live = false;
let progress: RunProgressView | undefined;

interface Layout {
  banner: HTMLElement;
  header: HTMLElement;
  summary: HTMLElement;
  chart: LayerChart;
  metrics: HTMLElement;
  features: FeaturesPanel;
  glossary: HTMLElement;
}

function createLayout(): Layout {
  const created: Layout = {
    banner: h('div'),
    header: h('div'),
    summary: h('div'),
    chart: new LayerChart(change),
    metrics: h('div'),
    features: new FeaturesPanel(change),
    glossary: renderGlossary(),
  };
  replaceChildren(
    app,
    created.banner,
    created.header,
    created.summary,
    created.chart.element,
    created.metrics,
    created.features.element,
    created.glossary,
  );
  // Exposed for tests and debugging in the webview developer tools.
  (window as unknown as { saeDiffView: unknown }).saeDiffView = {
    chart: created.chart.chart,
    layerChart: created.chart,
    rows: () => created.features.rows.map((f) => f.id),
    plots: () => created.features.plots,
  };
  // VS Code swaps the body's theme class (and the CSS variables) when the colour theme changes.
  new MutationObserver(() => created.chart.refreshTheme()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return created;
}

function showReport(next: SaeDiffReport, source: string | undefined): void {
  report = next;
  if (!next.complete && !next.shard) live = true;
  if (next.complete) progress = undefined;
  layout ??= createLayout();
  store.set(sanitizeState({ ...store.current, source }, report));
  replaceChildren(layout.banner, renderSelfCheckBanner(report));
  replaceChildren(layout.header, renderHeader(report, requestExport, live));
  showProgress(progress);
  replaceChildren(layout.summary, renderSummary(report));
  // a page that followed the run keeps the summary's room, so the finished report does not move either
  layout.summary.classList.toggle('pending', !next.complete || live);
  renderLayerSections(report, store.current);
}

/**
 * A run that has just started: the report's own layout (header, summary, chart, tables) with the run's
 * models and layers and no numbers yet, so the first partial report fills it in place instead of
 * replacing a "Loading" line.
 */
function showRun(outline: RunOutline): void {
  report = undefined;
  live = true;
  progress = undefined;
  layout ??= createLayout();
  const skeleton = skeletonReport(outline);
  store.set(sanitizeState({ ...store.current, source: undefined }, skeleton));
  replaceChildren(layout.banner);
  replaceChildren(layout.header, renderRunHeader(outline));
  replaceChildren(
    layout.summary,
    h('section', { class: 'summary', attrs: { 'aria-label': 'Summary' } }, h('p', { class: 'placeholder' }, 'No layer has finished yet.')),
  );
  layout.summary.classList.add('pending');
  renderLayerSections(skeleton, store.current);
}

/** The outline as a report with no layer yet: what the chart and the table draw before the first batch. */
function skeletonReport(outline: RunOutline): SaeDiffReport {
  return {
    format: 'sae-diff-report',
    version: 2,
    complete: false,
    run: {
      tool_version: '',
      started_at: '',
      duration_s: 0,
      execution_provider: 'cpu',
      config: {},
      tokens: 0,
      samples: 0,
      hook_point: outline.hookPoint as SaeDiffReport['run']['hook_point'],
      saes: [],
      warnings: [],
    },
    base: { name: outline.base, path: '' },
    comparisons: outline.sfts.map((name) => ({ sft: { name, path: '' }, layers: [] })),
  } as unknown as SaeDiffReport;
}

/** The running banner's bar and line; kept across re-renders of the header. */
function showProgress(next: RunProgressView | undefined): void {
  progress = next;
  const line = document.querySelector('[data-testid="run-progress"]');
  const bar = document.querySelector('progress.run-bar') as HTMLProgressElement | null;
  if (line) line.textContent = next?.message ?? '';
  // loading is over once batches run: the outline's "Starting" sentence would be stale
  const starting = document.querySelector('.running-text[data-starting]');
  if (starting && next?.fraction !== undefined)
    replaceChildren(starting, h('b', {}, 'Running. '), 'The layers appear when the first batch finishes.');
  if (bar) {
    if (next?.fraction !== undefined) bar.value = next.fraction;
    else bar.removeAttribute('value'); // indeterminate while loading
  }
}

function renderLayerSections(current: SaeDiffReport, state: ViewState): void {
  if (!layout) return;
  layout.chart.render(current, state);
  replaceChildren(layout.metrics, renderMetricsTable(current.comparisons[state.comparison]));
  layout.features.renderAll(current, state);
}

/** Applies a view change and re-renders only what it affects. */
function change(delta: Partial<ViewState>): void {
  guarded(() => applyChange(delta));
}

function applyChange(delta: Partial<ViewState>): void {
  if (!report || !layout) return;
  const before = store.current;
  store.set(sanitizeState({ ...before, ...delta }, report));
  const after = store.current;
  if (after.comparison !== before.comparison || after.layer !== before.layer) {
    renderLayerSections(report, after);
    return;
  }
  if (after.hiddenComparisons.join() !== before.hiddenComparisons.join() || after.chartMetric !== before.chartMetric)
    layout.chart.render(report, after);
  const sortChanged = after.sort.column !== before.sort.column || after.sort.descending !== before.sort.descending;
  const filterChanged =
    after.categoryFilter !== before.categoryFilter ||
    after.textFilter !== before.textFilter ||
    after.significantOnly !== before.significantOnly;
  if (sortChanged || filterChanged) {
    layout.features.renderTable(after);
  }
  if (after.selectedFeature !== before.selectedFeature) layout.features.renderSelection(after);
}

function showCompare(reports: { file: string; report: SaeDiffReport }[]): void {
  report = undefined;
  layout = undefined;
  const view = new CompareView(reports);
  replaceChildren(app, view.element);
  (window as unknown as { saeDiffView: unknown }).saeDiffView = { compare: view };
}

function requestExport(kind: ExportKind): void {
  if (kind === 'png') {
    if (report)
      void printPng(report).then(
        (dataUrl) => host.post({ type: 'export', kind, dataUrl }),
        (error: Error) => showError(`the PNG could not be drawn: ${error.message}`),
      );
  } else {
    host.post({ type: 'export', kind });
  }
}

function showError(message: string): void {
  report = undefined;
  progress = undefined;
  try {
    layout?.chart.chart.destroy();
  } catch {
    // a chart that failed half-way may not destroy cleanly; the page is replaced below anyway
  }
  layout = undefined;
  replaceChildren(app, h('div', { class: 'error-box', attrs: { role: 'alert' } }, h('b', {}, 'Cannot show this report. '), message));
}

/** A report is checked in full before it is drawn, and any error while drawing becomes the error box, never a half-drawn page. */
function guarded(render: () => void): void {
  try {
    render();
  } catch (error) {
    showError(`the report could not be drawn: ${(error as Error)?.message ?? String(error)}`);
  }
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  if (message?.type === 'report') {
    const problem = reportProblem(message.report);
    if (problem) showError(`this is not a report this viewer can show: ${problem}.`);
    else guarded(() => showReport(message.report, message.source));
  } else if (message?.type === 'run' && message.outline && Array.isArray(message.outline.sfts) && Array.isArray(message.outline.layers)) {
    guarded(() => showRun(message.outline));
  } else if (message?.type === 'progress' && typeof message.progress?.message === 'string') {
    showProgress(message.progress);
  } else if (message?.type === 'error') {
    showError(message.message);
  } else if (message?.type === 'compare') {
    const reports = Array.isArray(message.reports) ? message.reports : [];
    const problem = reports.map((r) => (reportProblem(r?.report) ? `${String(r?.file)}: ${reportProblem(r?.report)}` : '')).find(Boolean);
    if (problem || reports.length < 2) showError(problem ?? 'Compare Reports needs two or more reports.');
    else guarded(() => showCompare(reports));
  }
});
host.post({ type: 'ready' });
