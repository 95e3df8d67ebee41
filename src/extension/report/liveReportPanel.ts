import * as path from 'path';
import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { PersistedViewState, RunOutline, RunProgressView } from '../../shared/reportMessages';
import { loadInto } from './readReportFile';
import { REPORT_VIEW_TYPE } from './reportViewType';
import { ReportWebview } from './reportWebview';

/** What a run's live view does, whether it is its own panel or the report file's open editor. */
export interface LiveView {
  readonly isDisposed: boolean;
  showRun(outline: RunOutline): void;
  showProgress(progress: RunProgressView): void;
  showPartial(report: SaeDiffReport): void;
  /** The run wrote its report: show the file in place (same tab, same layout). */
  showFinished(file: vscode.Uri): Promise<void>;
  /** The run ended without a report. */
  showEnded(message: string): Promise<void>;
}

/**
 * The panel that follows a run when its report is not open yet. It opens as the run starts, showing the
 * run's models and layers at once, and at the end shows the written report in place (the tab takes the
 * file's name). After a window reload it comes back through the serializer and re-reads the report file
 * it last showed, if any.
 */
export class LiveReportPanel implements LiveView, vscode.Disposable {
  private readonly view: ReportWebview;
  private disposed = false;

  /** Opens the panel; the caller sends it the run (showRun). */
  static create(extensionUri: vscode.Uri, outline: RunOutline): LiveReportPanel {
    const panel = vscode.window.createWebviewPanel(
      REPORT_VIEW_TYPE,
      runTitle(outline.sfts, outline.base),
      // beside the config, where the finished report stays; the config keeps the focus
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true },
    );
    return new LiveReportPanel(panel, extensionUri, `Starting the run: ${outline.base} → ${outline.sfts.join(', ')}…`);
  }

  constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    placeholder?: string,
  ) {
    this.view = new ReportWebview(panel.webview, extensionUri, placeholder);
    panel.onDidDispose(() => {
      this.disposed = true;
      this.view.dispose();
    });
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  showRun(outline: RunOutline): void {
    this.panel.title = runTitle(outline.sfts, outline.base);
    this.view.showRun(outline);
  }

  showProgress(progress: RunProgressView): void {
    this.view.showProgress(progress);
  }

  showPartial(report: SaeDiffReport): void {
    this.panel.title = runTitle(
      report.comparisons.map((c) => c.sft.name),
      report.base.name,
    );
    this.view.showReport(report);
  }

  async showFinished(file: vscode.Uri): Promise<void> {
    this.panel.title = path.basename(file.fsPath);
    await loadInto(this.view, file);
  }

  async showEnded(message: string): Promise<void> {
    this.view.showError(message);
  }

  showError(message: string): void {
    this.view.showError(message);
  }

  async restore(state: PersistedViewState | undefined): Promise<void> {
    if (state?.source) {
      const file = vscode.Uri.parse(state.source);
      this.panel.title = path.basename(file.fsPath);
      await loadInto(this.view, file);
    } else {
      this.view.showError('This panel showed a run that was not saved to a file; run the diagnostic again to see it.');
    }
  }

  dispose(): void {
    if (!this.disposed) this.panel.dispose();
  }
}

function runTitle(sfts: string[], base: string): string {
  return `SAE Diff: ${sfts.join(', ') || base} (running)`;
}
