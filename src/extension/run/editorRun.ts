import * as path from 'path';
import * as vscode from 'vscode';
import type { RunOverrides } from '../../engine/worker/messages';
import type { ReportViews } from '../report/register';
import { pickConfig } from './configPicker';
import { progressFraction, progressMessage, progressShort } from './progressText';
import { RunController, RunOutcome } from './runController';
import { showRunError } from './runErrors';
import { openReportWhenDone, readRunDefaults } from './runSettingsFromEditor';
import { RunStatusBar } from './runStatusBar';
import { explainUntrusted, runsAllowed } from './workspaceTrust';

/** Adapts RunController to the editor: progress notification with Cancel, status bar, log, report panel, errors. */
export class EditorRunner implements vscode.Disposable {
  private readonly stateChanged = new vscode.EventEmitter<void>();
  /** Fires when a run starts or ends (the CodeLens follows it). */
  readonly onDidChangeState = this.stateChanged.event;

  constructor(
    private readonly controller: RunController,
    private readonly log: vscode.OutputChannel,
    private readonly status: RunStatusBar,
    private readonly reports: ReportViews,
  ) {}

  get isRunning(): boolean {
    return this.controller.isRunning;
  }

  async run(given?: vscode.Uri, overrides: RunOverrides = {}): Promise<void> {
    if (!runsAllowed()) return explainUntrusted();
    if (this.controller.isRunning) {
      const action = await vscode.window.showInformationMessage('SAE Diff: a diagnostic is already running.', 'Cancel Run', 'Show Log');
      if (action === 'Cancel Run') await this.cancel();
      if (action === 'Show Log') this.log.show(true);
      return;
    }
    const uri = await pickConfig(given);
    // a run may have started while the user was picking
    if (!uri || this.controller.isRunning) return;
    await saveIfDirty(uri);
    if (await refuseWithConfigErrors(uri)) return;

    const outcome = await this.runWithProgress(uri, overrides);
    await this.finish(uri, outcome, overrides);
  }

  async cancel(): Promise<void> {
    if (!this.controller.isRunning) {
      void vscode.window.showInformationMessage('SAE Diff: no diagnostic is running.');
      return;
    }
    this.log.appendLine('Cancelling…');
    this.status.running('cancelling');
    await this.controller.cancel();
  }

  dispose(): void {
    void this.controller.dispose();
    this.stateChanged.dispose();
  }

  private runWithProgress(uri: vscode.Uri, overrides: RunOverrides): Thenable<RunOutcome> {
    const request = { configPath: uri.fsPath, overrides, defaults: readRunDefaults(uri) };
    this.log.appendLine(
      `\n=== ${new Date().toLocaleString()} Run ${uri.fsPath}${overrides.provider ? ` (provider ${overrides.provider})` : ''} ===`,
    );
    this.status.startRun();
    const title = `SAE Diff: ${path.basename(uri.fsPath)}`;
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => void this.cancel());
        let provider = '';
        const promise = this.controller.run(request, {
          onStarted: ({ pid, reportPath, outline }) => {
            this.log.appendLine(`Worker pid ${pid}; report: ${reportPath}`);
            // the live view opens now, with the run's models and layers, not at the first finished batch
            const report = vscode.Uri.file(reportPath);
            this.reports.startRun({ ...outline, report: vscode.workspace.asRelativePath(report) }, report);
          },
          onProvider: (p) => {
            provider = p.requested === 'auto' ? `${p.provider} (auto)` : p.provider;
            this.status.setProvider(p.provider);
            // the engine logs the provider and its warnings itself; a fallback also deserves a notification
            for (const w of p.warnings) void vscode.window.showWarningMessage(`SAE Diff: ${w}`);
            progress.report({ message: `on ${provider}` });
          },
          onProgress: (e) => {
            this.status.running(progressShort(e));
            progress.report({ message: `${progressMessage(e)}${provider ? ` · ${provider}` : ''}` });
            this.reports.runProgress({ message: progressMessage(e), fraction: progressFraction(e) });
          },
          onLog: (line) => this.log.appendLine(line),
          onPartialReport: (report) => this.reports.showPartial(report),
        });
        this.stateChanged.fire();
        try {
          return await promise;
        } finally {
          this.stateChanged.fire();
        }
      },
    );
  }

  private async finish(uri: vscode.Uri, outcome: RunOutcome, overrides: RunOverrides): Promise<void> {
    if (outcome.kind === 'done') {
      this.status.idle();
      this.log.appendLine(`Report written: ${outcome.reportPath}`);
      const report = vscode.Uri.file(outcome.reportPath);
      // the live view (open since the start) shows the report in place; the setting decides only without one
      if (await this.reports.finishRun(report)) return;
      if (openReportWhenDone(uri)) {
        await this.reports.openReportFile(report);
      } else if (
        (await vscode.window.showInformationMessage(
          `SAE Diff: report written to ${vscode.workspace.asRelativePath(report)}.`,
          'Open Report',
        )) === 'Open Report'
      ) {
        await this.reports.openReportFile(report);
      }
      return;
    }
    if (outcome.kind === 'cancelled') {
      this.status.idle();
      this.log.appendLine('Run cancelled; no report written.');
      this.reports.endPartial('The run was cancelled; no report was written.');
      void vscode.window.showInformationMessage('SAE Diff: run cancelled.');
      return;
    }
    this.status.failed();
    this.log.appendLine(`Error: ${outcome.error.message}`);
    this.reports.endPartial(`The run failed; no report was written: ${outcome.error.message}`);
    await showRunError(outcome.error, {
      showLog: () => this.log.show(true),
      runOnCpu: () => void this.run(uri, { ...overrides, provider: 'cpu' }),
    });
  }
}

async function saveIfDirty(uri: vscode.Uri): Promise<void> {
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isDirty) await doc.save();
}

/**
 * A config the editor marks with errors would fail a moment into the run: refuse to start, and say why.
 * Returns true when the run must not start.
 */
async function refuseWithConfigErrors(uri: vscode.Uri): Promise<boolean> {
  const errors = vscode.languages
    .getDiagnostics(uri)
    .filter((d) => d.severity === vscode.DiagnosticSeverity.Error && d.source === 'sae-diff');
  if (errors.length === 0) return false;
  const lines = errors
    .slice(0, 3)
    .map((d) => `line ${d.range.start.line + 1}: ${d.message}`)
    .join('; ');
  const more = errors.length > 3 ? ` (and ${errors.length - 3} more)` : '';
  const action = await vscode.window.showErrorMessage(
    `SAE Diff: ${path.basename(uri.fsPath)} has ${errors.length} error${errors.length === 1 ? '' : 's'}; fix ${errors.length === 1 ? 'it' : 'them'} before running. ${lines}${more}`,
    'Show Problems',
  );
  if (action === 'Show Problems') await vscode.commands.executeCommand('workbench.actions.view.problems');
  return true;
}
