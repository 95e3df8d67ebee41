import * as vscode from 'vscode';
import type { ReportViews } from '../report/register';
import { EditorRunner } from './editorRun';
import { selectExecutionProvider } from './providerPicker';
import { RunCodeLensProvider } from './runCodeLens';
import { RunController } from './runController';
import { configuredProvider } from './runSettingsFromEditor';
import { RunStatusBar } from './runStatusBar';

/** Running diagnostics: commands, CodeLens, progress, cancel, status bar, log. */
export function registerRunCommands(context: vscode.ExtensionContext, reports: ReportViews): void {
  const log = vscode.window.createOutputChannel('SAE Diff');
  const status = new RunStatusBar(() => configuredProvider());
  const runner = new EditorRunner(new RunController(), log, status, reports);
  const lenses = new RunCodeLensProvider(() => runner.isRunning);

  context.subscriptions.push(
    log,
    status,
    runner,
    lenses,
    vscode.commands.registerCommand('saeDiff.runDiagnostic', (arg?: unknown) => runner.run(arg instanceof vscode.Uri ? arg : undefined)),
    vscode.commands.registerCommand('saeDiff.cancelRun', () => runner.cancel()),
    vscode.commands.registerCommand('saeDiff.selectExecutionProvider', () => selectExecutionProvider()),
    vscode.commands.registerCommand('saeDiff.showLog', () => log.show(true)),
    vscode.languages.registerCodeLensProvider({ language: 'yaml', scheme: 'file' }, lenses),
    runner.onDidChangeState(() => lenses.refresh()),
    vscode.workspace.onDidGrantWorkspaceTrust(() => lenses.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('saeDiff.executionProvider') && !runner.isRunning) status.idle();
    }),
  );
}
