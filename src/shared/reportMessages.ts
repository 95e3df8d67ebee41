/**
 * The only contract between the report webview and the extension host. Both sides import these types;
 * this file must stay free of `vscode` and DOM imports so either bundle (and the tests) can use it.
 */
import type { SaeDiffReport } from './reportTypes';

/** Extension → webview. */
export type HostMessage =
  /** A report to show. `source` is the file it came from (absent for a live run not yet saved). */
  | { type: 'report'; report: SaeDiffReport; source?: string }
  /** The file could not be read or is not a report. */
  | { type: 'error'; message: string }
  /** "Compare Reports": several reports (file names for display). */
  | { type: 'compare'; reports: { file: string; report: SaeDiffReport }[] }
  /** A run started: what it will report on, shown before any number exists (the live panel's first view). */
  | { type: 'run'; outline: RunOutline }
  /** The run's progress, shown in the running banner (it never re-renders the report). */
  | { type: 'progress'; progress: RunProgressView };

/** What a run will report on, known as soon as its config has loaded. */
export interface RunOutline {
  base: string;
  sfts: string[];
  reference?: string;
  layers: number[];
  hookPoint: string;
  /** The report file the run writes (as the user would name it: workspace-relative where possible). */
  report: string;
  maxSamples?: number;
}

/** One line of run progress and, where known, the share of the batches done (0-1). */
export interface RunProgressView {
  message: string;
  fraction?: number;
}

export type ExportKind = 'csv' | 'png' | 'markdown' | 'svg' | 'html';

/** Webview → extension. */
export type ViewMessage =
  /** Sent once the script has loaded and listens; the host answers with the report. */
  | { type: 'ready' }
  /** Built by the extension from the report: CSV, Markdown, the layer profile as SVG, the standalone HTML report. */
  | { type: 'export'; kind: 'csv' | 'markdown' | 'svg' | 'html' }
  /** The print figure as a `data:image/png;base64,…` URL (only the webview can render it). */
  | { type: 'export'; kind: 'png'; dataUrl: string };

/**
 * What the webview persists with `setState` so a reloaded window reopens the same view.
 * The report itself is not stored (it can be large); `source` lets the host read it again.
 */
export interface PersistedViewState {
  source?: string;
  comparison: number;
  layer: number;
  sort: { column: FeatureColumn; descending: boolean };
  categoryFilter: string;
  textFilter: string;
  /** Only features that pass the significance filter (reports with run.fdr). Optional: older saved states lack it. */
  significantOnly?: boolean;
  selectedFeature?: number;
  hiddenComparisons: number[];
  /** The layer chart's metric: 'all' (every metric) or one metric key. Optional: older saved states lack it. */
  chartMetric?: string;
}

export const FEATURE_COLUMNS = [
  'id',
  'label',
  'category',
  'significant',
  'freq_base',
  'freq_sft',
  'mean_base',
  'mean_sft',
  'mean_abs_diff',
] as const;
export type FeatureColumn = (typeof FEATURE_COLUMNS)[number];

export function isViewMessage(value: unknown): value is ViewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as { type?: unknown; kind?: unknown; dataUrl?: unknown };
  if (message.type === 'ready') return true;
  if (message.type !== 'export') return false;
  if (message.kind === 'csv' || message.kind === 'markdown' || message.kind === 'svg' || message.kind === 'html') return true;
  return message.kind === 'png' && typeof message.dataUrl === 'string' && message.dataUrl.startsWith('data:image/png;base64,');
}
