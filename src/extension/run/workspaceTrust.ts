import * as vscode from 'vscode';

/** Runs load model files and native code, so they need a trusted workspace; validation works regardless. */
export function runsAllowed(): boolean {
  return vscode.workspace.isTrusted;
}

export async function explainUntrusted(): Promise<void> {
  const action = await vscode.window.showWarningMessage(
    'SAE Diff: running a diagnostic is disabled in an untrusted workspace, because it loads model files and native code. ' +
      'Config validation still works. Trust this workspace to run diagnostics.',
    'Manage Workspace Trust',
  );
  if (action) await vscode.commands.executeCommand('workbench.trust.manage');
}
