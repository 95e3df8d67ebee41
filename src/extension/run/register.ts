import * as vscode from 'vscode';
import type { ReportViews } from '../report/register';

/** Running diagnostics: commands, CodeLens, progress, cancel, status bar, log. */
export function registerRunCommands(_context: vscode.ExtensionContext, _reports: ReportViews): void {
  // Filled in by the run-from-editor work (issue 4).
}
