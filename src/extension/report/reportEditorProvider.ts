import * as vscode from 'vscode';
import { loadInto } from './readReportFile';
import { ReportWebview } from './reportWebview';

export const REPORT_VIEW_TYPE = 'saeDiff.report';

/**
 * `*.sae-report.json` opens here as a read-only custom editor. VS Code re-creates these editors after a
 * window reload by calling resolveCustomEditor again; the page restores its own view state.
 */
export class ReportEditorProvider implements vscode.CustomReadonlyEditorProvider {
  constructor(private readonly extensionUri: vscode.Uri) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const view = new ReportWebview(panel.webview, this.extensionUri);
    // A run may rewrite the file (partial, then complete): follow it.
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.joinPath(document.uri, '..'), document.uri.path.split('/').pop() ?? ''),
    );
    const reload = () => void loadInto(view, document.uri);
    watcher.onDidChange(reload);
    watcher.onDidCreate(reload);
    panel.onDidDispose(() => {
      watcher.dispose();
      view.dispose();
    });
    await loadInto(view, document.uri);
  }
}
