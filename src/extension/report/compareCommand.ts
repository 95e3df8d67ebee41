import * as vscode from 'vscode';
import { readReportFile } from './readReportFile';
import { REPORT_VIEW_TYPE } from './reportViewType';
import { ReportWebview } from './reportWebview';

/**
 * `saeDiff.compareReports`: pick two or more report files (checkpoints of one run, seeds, datasets) and
 * see them in one panel: layer profiles together, shared and different shifted features, curves over steps.
 */
export async function compareReports(extensionUri: vscode.Uri, files?: vscode.Uri[]): Promise<void> {
  const picked = files && files.length > 1 ? files : await pickReports();
  if (!picked) return;
  if (picked.length < 2) {
    void vscode.window.showWarningMessage('SAE Diff: choose two or more reports to compare.');
    return;
  }
  const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, `SAE Diff: compare ${picked.length} reports`, vscode.ViewColumn.Active, {
    enableScripts: true,
  });
  const view = new ReportWebview(panel.webview, extensionUri);
  panel.onDidDispose(() => view.dispose());
  try {
    const reports = [];
    for (const file of picked) reports.push({ file: file.path.split('/').pop() ?? file.fsPath, report: await readReportFile(file) });
    view.showCompare(reports);
  } catch (error) {
    view.showError((error as Error).message);
  }
}

/**
 * The workspace's reports in a multi-select list; a file dialog when it has fewer than two. The list comes
 * first because VS Code's own dialog in a browser or remote window (code-server, Codespaces, Remote-SSH
 * with the simple dialog) selects only one file.
 */
async function pickReports(): Promise<vscode.Uri[] | undefined> {
  const found = await vscode.workspace.findFiles('**/*.sae-report.json', '**/node_modules/**', 500);
  if (found.length < 2) {
    return vscode.window.showOpenDialog({
      canSelectMany: true,
      openLabel: 'Compare',
      title: 'Compare SAE Diff reports: choose two or more',
      filters: { 'SAE Diff reports': ['json'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
  }
  found.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
  const items = found.map((uri) => ({
    label: uri.path.split('/').pop() ?? uri.fsPath,
    description: vscode.workspace.asRelativePath(uri, true),
    uri,
  }));
  const chosen = await vscode.window.showQuickPick(items, {
    canPickMany: true,
    title: 'Compare SAE Diff reports: choose two or more',
    placeHolder: 'Reports in this workspace',
    matchOnDescription: true,
  });
  return chosen?.map((item) => item.uri);
}
