import * as vscode from 'vscode';
import { starterConfigText, STARTER_FILE_NAME } from '../../engine/authoring/index';
import { isConfigFileName } from '../../engine/config/configFileRule';

/** SAE Diff: New Diagnostic Config — asks where, writes the commented starter, opens it. */
export async function newConfigCommand(): Promise<void> {
  const folder =
    vscode.window.activeTextEditor?.document.uri.scheme === 'file'
      ? vscode.Uri.joinPath(vscode.window.activeTextEditor.document.uri, '..')
      : vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: 'New SAE Diff diagnostic config',
    saveLabel: 'Create',
    defaultUri: folder ? vscode.Uri.joinPath(folder, STARTER_FILE_NAME) : undefined,
    filters: { 'SAE Diff config': ['sae-diff.yaml', 'yaml', 'yml'] },
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, Buffer.from(starterConfigText(), 'utf8'));
  const doc = await vscode.workspace.openTextDocument(target);
  await vscode.window.showTextDocument(doc);
  if (!isConfigFileName(target.fsPath)) {
    void vscode.window.showInformationMessage(
      'Tip: a config named *.sae-diff.yaml is always recognised; any other YAML file only while diagnostic_pipeline is its first key.',
    );
  }
}
