import * as vscode from 'vscode';
import type { WorkerError } from '../../engine/worker/messages';

export interface RunErrorActions {
  showLog(): void;
  /** Re-run the same config on CPU (offered when CUDA binaries are missing). */
  runOnCpu(): void;
}

/** The error notification of a failed run: Open Log, Go to Line (when the error has a line), Run on CPU (CUDA missing). */
export async function showRunError(error: WorkerError, actions: RunErrorActions): Promise<void> {
  const items: string[] = [];
  if (error.cudaBinariesMissing) items.push('Run on CPU');
  const location = error.location;
  if (location?.file && location.line !== undefined) items.push('Go to Line');
  items.push('Open Log');
  const choice = await vscode.window.showErrorMessage(`SAE Diff: ${error.message}`, ...items);
  if (choice === 'Open Log') actions.showLog();
  else if (choice === 'Run on CPU') actions.runOnCpu();
  else if (choice === 'Go to Line' && location?.line !== undefined) await goToLine(location.file, location.line, location.column ?? 1);
}

async function goToLine(file: string, line: number, column: number): Promise<void> {
  const at = new vscode.Position(Math.max(0, line - 1), Math.max(0, column - 1));
  await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(at, at) });
}
