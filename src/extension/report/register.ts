import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { PersistedViewState } from '../../shared/reportMessages';
import { compareReports } from './compareCommand';
import { LiveReportPanel } from './liveReportPanel';
import { pickReportFile } from './openReportCommand';
import { reportShapeProblem } from './parseReport';
import { REPORT_VIEW_TYPE, ReportEditorProvider } from './reportEditorProvider';

/** What the run commands need from the report views. */
export interface ReportViews {
  /** Opens (or focuses) the panel for a report file. */
  openReportFile(file: vscode.Uri): Promise<void>;
  /** Live update of an open panel while a run is in progress (report.complete === false). */
  showPartial(report: unknown): void;
  /** The run that fed the live panel ended without a report: it must stop saying "running". */
  endPartial(message: string): void;
}

/** The report panel: custom editor for report files, a live panel for runs, the open command. */
export function registerReportViews(context: vscode.ExtensionContext): ReportViews {
  const { extensionUri } = context;
  let live: LiveReportPanel | undefined;

  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(REPORT_VIEW_TYPE, new ReportEditorProvider(extensionUri), {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      async deserializeWebviewPanel(panel, state) {
        live = new LiveReportPanel(panel, extensionUri);
        await live.restore(state as PersistedViewState | undefined);
      },
    }),
    vscode.commands.registerCommand('saeDiff.openReport', async (file?: vscode.Uri) => {
      const target = file instanceof vscode.Uri ? file : await pickReportFile();
      if (target) await openReportFile(target);
    }),
    vscode.commands.registerCommand('saeDiff.compareReports', (file?: vscode.Uri, files?: vscode.Uri[]) => compareReports(extensionUri, files ?? (file ? [file] : undefined))),
    { dispose: () => live?.dispose() },
  );

  async function openReportFile(file: vscode.Uri): Promise<void> {
    // The finished file replaces the panel that followed the run, in its place: opened there first, then the
    // live panel closed, so the editor group neither collapses nor jumps.
    const column = live && !live.isDisposed ? live.viewColumn : undefined;
    await vscode.commands.executeCommand('vscode.openWith', file, REPORT_VIEW_TYPE, column !== undefined ? { viewColumn: column, preserveFocus: true } : undefined);
    if (live && !live.isDisposed) live.dispose();
    live = undefined;
  }

  function showPartial(report: unknown): void {
    if (!live || live.isDisposed) live = LiveReportPanel.create(extensionUri);
    // Called from a run's progress callback: report a bad value in the panel rather than throw into the run.
    const problem = reportShapeProblem(report);
    if (problem) live.showError(`The run sent an update that is not a report: ${problem}.`);
    else live.show(report as SaeDiffReport);
  }

  function endPartial(message: string): void {
    if (live && !live.isDisposed) live.showError(message);
  }

  return { openReportFile, showPartial, endPartial };
}
