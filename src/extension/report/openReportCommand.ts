import * as vscode from 'vscode';

const BROWSE = '$(folder-opened) Browse…';

/** `saeDiff.openReport`: a report from the workspace (quick pick) or anywhere (file dialog). */
export async function pickReportFile(): Promise<vscode.Uri | undefined> {
  const found = await vscode.workspace.findFiles('**/*.sae-report.json', '**/node_modules/**', 500);
  if (found.length === 0) return browseForReport();
  found.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
  const items: (vscode.QuickPickItem & { uri?: vscode.Uri })[] = [
    ...found.map((uri) => ({
      label: vscode.workspace.asRelativePath(uri, false).split('/').pop() ?? uri.fsPath,
      description: vscode.workspace.asRelativePath(uri, true),
      uri,
    })),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: BROWSE },
  ];
  const choice = await vscode.window.showQuickPick(items, {
    title: 'Open SAE Diff Report',
    placeHolder: 'Choose a report',
    matchOnDescription: true,
  });
  if (!choice) return undefined;
  return choice.uri ?? browseForReport();
}

async function browseForReport(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Open Report',
    filters: { 'SAE Diff reports': ['json'] },
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return picked?.[0];
}
