import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import { parseReport } from './parseReport';

/** Reads and parses a report through the workspace file system (works for remote workspaces too). */
export async function readReportFile(file: vscode.Uri): Promise<SaeDiffReport> {
  const bytes = await vscode.workspace.fs.readFile(file);
  return parseReport(new TextDecoder('utf-8').decode(bytes), vscode.workspace.asRelativePath(file));
}

/** Shows the file in a webview, or why it cannot be shown. */
export async function loadInto(
  view: { showReport(r: SaeDiffReport, s: vscode.Uri): void; showError(m: string): void },
  file: vscode.Uri,
): Promise<void> {
  try {
    view.showReport(await readReportFile(file), file);
  } catch (error) {
    view.showError((error as Error).message);
  }
}
