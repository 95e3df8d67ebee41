import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { RunOutline, RunProgressView } from '../../shared/reportMessages';
import type { LiveView } from './liveReportPanel';
import { loadInto } from './readReportFile';
import { ReportWebview } from './reportWebview';

interface OpenEditor {
  view: ReportWebview;
  panel: vscode.WebviewPanel;
  disposed: boolean;
}

/**
 * `*.sae-report.json` opens here as a read-only custom editor. VS Code re-creates these editors after a
 * window reload by calling resolveCustomEditor again; the page restores its own view state.
 */
export class ReportEditorProvider implements vscode.CustomReadonlyEditorProvider {
  private readonly open = new Map<string, OpenEditor[]>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const view = new ReportWebview(panel.webview, this.extensionUri);
    const key = document.uri.toString();
    const entry: OpenEditor = { view, panel, disposed: false };
    this.open.set(key, [...(this.open.get(key) ?? []), entry]);
    // A run may rewrite the file (partial, then complete): follow it.
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.joinPath(document.uri, '..'), document.uri.path.split('/').pop() ?? ''),
    );
    const reload = () => void loadInto(view, document.uri);
    watcher.onDidChange(reload);
    watcher.onDidCreate(reload);
    panel.onDidDispose(() => {
      entry.disposed = true;
      this.open.set(
        key,
        (this.open.get(key) ?? []).filter((e) => e !== entry),
      );
      watcher.dispose();
      view.dispose();
    });
    await loadInto(view, document.uri);
  }

  /**
   * A run that writes `file` while the file is open follows in that editor: same tab, same place, and at
   * the end the new report replaces the old one there (no second tab, no new split).
   */
  liveViewFor(file: vscode.Uri): LiveView | undefined {
    const editor = this.open.get(file.toString())?.find((e) => !e.disposed);
    return editor ? new EditorLiveView(editor, file) : undefined;
  }
}

class EditorLiveView implements LiveView {
  constructor(
    private readonly editor: OpenEditor,
    private readonly file: vscode.Uri,
  ) {}

  get isDisposed(): boolean {
    return this.editor.disposed;
  }

  showRun(outline: RunOutline): void {
    this.editor.panel.reveal(undefined, true);
    this.editor.view.showRun(outline);
  }

  showProgress(progress: RunProgressView): void {
    this.editor.view.showProgress(progress);
  }

  showPartial(report: SaeDiffReport): void {
    this.editor.view.showReport(report);
  }

  async showFinished(file: vscode.Uri): Promise<void> {
    await loadInto(this.editor.view, file);
  }

  /** No new report: the file still holds the previous one, so show it again (the notification says why). */
  async showEnded(): Promise<void> {
    await loadInto(this.editor.view, this.file);
  }
}
