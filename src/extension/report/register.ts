import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { PersistedViewState, RunOutline, RunProgressView } from '../../shared/reportMessages';
import { compareReports } from './compareCommand';
import { LiveReportPanel, type LiveView } from './liveReportPanel';
import { pickReportFile } from './openReportCommand';
import { reportShapeProblem } from './parseReport';
import { ReportEditorProvider } from './reportEditorProvider';
import { REPORT_VIEW_TYPE } from './reportViewType';

/** What the run commands need from the report views. */
export interface ReportViews {
  /** Opens (or focuses) the panel for a report file. */
  openReportFile(file: vscode.Uri): Promise<void>;
  /**
   * A run started: its live view opens at once where the report will be (the report file's open editor, or
   * a panel beside the config), showing the run's models and layers before the first batch.
   */
  startRun(outline: RunOutline, report: vscode.Uri): void;
  /** The run's progress, in the live view's banner. */
  runProgress(progress: RunProgressView): void;
  /** Live update of the view while a run is in progress (report.complete === false). */
  showPartial(report: unknown): void;
  /** The run wrote its report: the live view shows it in place. False when there is no live view (closed). */
  finishRun(file: vscode.Uri): Promise<boolean>;
  /** The run that fed the live view ended without a report: it must stop saying "running". */
  endPartial(message: string): void;
}

/** The report panel: custom editor for report files, a live view for runs, the open command. */
export function registerReportViews(context: vscode.ExtensionContext): ReportViews {
  const { extensionUri } = context;
  const editors = new ReportEditorProvider(extensionUri);
  let live: LiveView | undefined;
  let restored: LiveReportPanel | undefined;

  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(REPORT_VIEW_TYPE, editors, {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      async deserializeWebviewPanel(panel, state) {
        restored = new LiveReportPanel(panel, extensionUri);
        await restored.restore(state as PersistedViewState | undefined);
      },
    }),
    vscode.commands.registerCommand('saeDiff.openReport', async (file?: vscode.Uri) => {
      const target = file instanceof vscode.Uri ? file : await pickReportFile();
      if (target) await openReportFile(target);
    }),
    vscode.commands.registerCommand('saeDiff.compareReports', (file?: vscode.Uri, files?: vscode.Uri[]) =>
      compareReports(extensionUri, files ?? (file ? [file] : undefined)),
    ),
    {
      dispose: () => {
        if (live instanceof LiveReportPanel) live.dispose();
        restored?.dispose();
      },
    },
  );

  async function openReportFile(file: vscode.Uri): Promise<void> {
    await vscode.commands.executeCommand('vscode.openWith', file, REPORT_VIEW_TYPE);
  }

  function current(): LiveView | undefined {
    return live && !live.isDisposed ? live : undefined;
  }

  function startRun(outline: RunOutline, report: vscode.Uri): void {
    if (live instanceof LiveReportPanel && !live.isDisposed) live.dispose();
    live = editors.liveViewFor(report) ?? LiveReportPanel.create(extensionUri, outline);
    live.showRun(outline);
  }

  function showPartial(report: unknown): void {
    const view = current();
    if (!view) return; // closed by the user during the run: the report opens when the run ends
    // Called from a run's progress callback: report a bad value in the view rather than throw into the run.
    const problem = reportShapeProblem(report);
    if (problem) void view.showEnded(`The run sent an update that is not a report: ${problem}.`);
    else view.showPartial(report as SaeDiffReport);
  }

  async function finishRun(file: vscode.Uri): Promise<boolean> {
    const view = current();
    live = undefined;
    if (!view) return false;
    await view.showFinished(file);
    return true;
  }

  function endPartial(message: string): void {
    const view = current();
    live = undefined;
    if (view) void view.showEnded(message);
  }

  return { openReportFile, startRun, runProgress: (p) => current()?.showProgress(p), showPartial, finishRun, endPartial };
}
