import * as vscode from 'vscode';
import type { SaeDiffReport } from '../../shared/reportTypes';
import { isViewMessage, type HostMessage, type RunOutline, type RunProgressView, type ViewMessage } from '../../shared/reportMessages';
import { saveExport } from './saveExport';
import { buildPanelHtml, createNonce, readPanelBundle } from './panelHtml';

/**
 * One report webview (custom editor or live panel): sets up its HTML and options, sends the report
 * once the page says it is ready, and answers the page's export requests.
 */
export class ReportWebview implements vscode.Disposable {
  private ready = false;
  private latest: HostMessage | undefined;
  /** The latest progress of a live run: sent after `latest`, so a page that loads mid-run shows both. */
  private progress: HostMessage | undefined;
  private report: SaeDiffReport | undefined;
  private source: vscode.Uri | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  /** `placeholder`: what the page says until its script has drawn the first message. */
  constructor(
    private readonly webview: vscode.Webview,
    private readonly extensionUri: vscode.Uri,
    placeholder?: string,
  ) {
    // the page inlines its bundle (panelHtml.ts): it loads no local resource
    webview.options = { enableScripts: true, localResourceRoots: [] };
    webview.html = buildPanelHtml({ bundle: readPanelBundle(extensionUri.fsPath), nonce: createNonce(), placeholder });
    this.subscriptions.push(webview.onDidReceiveMessage((message: unknown) => this.onMessage(message)));
  }

  get currentSource(): vscode.Uri | undefined {
    return this.source;
  }

  showReport(report: SaeDiffReport, source?: vscode.Uri): void {
    this.report = report;
    this.source = source;
    if (report.complete) this.progress = undefined;
    this.post({ type: 'report', report, source: source?.toString() });
  }

  /** A run started: the page lays out its models and layers at once, before any number exists. */
  showRun(outline: RunOutline): void {
    this.report = undefined;
    this.progress = undefined;
    this.post({ type: 'run', outline });
  }

  showProgress(progress: RunProgressView): void {
    this.progress = { type: 'progress', progress };
    if (this.ready) void this.webview.postMessage(this.progress);
  }

  /** "Compare Reports": several reports in one view (no single report to export). */
  showCompare(reports: { file: string; report: SaeDiffReport }[]): void {
    this.report = undefined;
    this.post({ type: 'compare', reports });
  }

  showError(message: string): void {
    this.progress = undefined;
    this.post({ type: 'error', message });
  }

  dispose(): void {
    this.subscriptions.forEach((subscription) => subscription.dispose());
  }

  private post(message: HostMessage): void {
    // Messages sent before the script listens are lost, so keep the latest and send it on 'ready'.
    this.latest = message;
    if (this.ready) void this.webview.postMessage(message);
  }

  private onMessage(message: unknown): void {
    if (!isViewMessage(message)) return;
    void this.handle(message).catch((error: unknown) => {
      void vscode.window.showErrorMessage(`SAE Diff: ${(error as Error).message}`);
    });
  }

  private async handle(message: ViewMessage): Promise<void> {
    if (message.type === 'ready') {
      this.ready = true;
      if (this.latest) await this.webview.postMessage(this.latest);
      if (this.progress) await this.webview.postMessage(this.progress);
      return;
    }
    if (!this.report) return;
    await saveExport(message, this.report, this.source, this.extensionUri.fsPath);
  }
}
