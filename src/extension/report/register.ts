import * as vscode from 'vscode';

/** What the run commands need from the report views. */
export interface ReportViews {
  /** Opens (or focuses) the panel for a report file. */
  openReportFile(file: vscode.Uri): Promise<void>;
  /** Live update of an open panel while a run is in progress (report.complete === false). */
  showPartial(report: unknown): void;
}

export function registerReportViews(_context: vscode.ExtensionContext): ReportViews {
  // Filled in by the report panel work (issue 5).
  return {
    async openReportFile(file) { await vscode.commands.executeCommand('vscode.openWith', file, 'saeDiff.report'); },
    showPartial() {},
  };
}
