import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { PersistedViewState } from '../../shared/reportMessages';
import { loadInto } from './readReportFile';
import { REPORT_VIEW_TYPE } from './reportEditorProvider';
import { ReportWebview } from './reportWebview';

/**
 * The panel that follows a run in progress (reports that are not files yet). After a window reload
 * it comes back through the serializer and re-reads the report file it last showed, if any.
 */
export class LiveReportPanel implements vscode.Disposable {
  private readonly view: ReportWebview;
  private disposed = false;

  static create(extensionUri: vscode.Uri): LiveReportPanel {
    const panel = vscode.window.createWebviewPanel(
      REPORT_VIEW_TYPE,
      'SAE Diff: run',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true },
    );
    return new LiveReportPanel(panel, extensionUri);
  }

  constructor(private readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri) {
    this.view = new ReportWebview(panel.webview, extensionUri);
    panel.onDidDispose(() => {
      this.disposed = true;
      this.view.dispose();
    });
  }

  /** Where the panel is, so the finished report can open in its place. */
  get viewColumn(): vscode.ViewColumn | undefined {
    return this.disposed ? undefined : this.panel.viewColumn;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  show(report: SaeDiffReport, source?: vscode.Uri): void {
    this.panel.title = `SAE Diff: ${report.comparisons.map((c) => c.sft.name).join(', ') || report.base.name}${report.complete ? '' : ' (running)'}`;
    this.view.showReport(report, source);
  }

  showError(message: string): void {
    this.view.showError(message);
  }

  async restore(state: PersistedViewState | undefined): Promise<void> {
    if (state?.source) await loadInto(this.view, vscode.Uri.parse(state.source));
    else this.view.showError('This panel showed a run that was not saved to a file; run the diagnostic again to see it.');
  }

  dispose(): void {
    if (!this.disposed) this.panel.dispose();
  }
}
