import * as vscode from 'vscode';
import { pipelineRootLine } from '../../engine/config/configFileRule';
import { isDiagnosticConfigDocument } from './configPicker';
import { runsAllowed } from './workspaceTrust';

/** "Run diagnostic" above the root `diagnostic_pipeline:` key (or "Cancel run" while one runs). */
export class RunCodeLensProvider implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;

  constructor(private readonly isRunning: () => boolean) {}

  refresh(): void {
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!isDiagnosticConfigDocument(doc)) return [];
    const line = pipelineRootLine(doc.getText());
    if (line < 0) return [];
    const range = new vscode.Range(line, 0, line, 0);
    if (!runsAllowed()) {
      return [
        new vscode.CodeLens(range, {
          title: '$(shield) Run diagnostic (needs a trusted workspace)',
          command: 'saeDiff.runDiagnostic',
          arguments: [doc.uri],
        }),
      ];
    }
    if (this.isRunning()) {
      return [new vscode.CodeLens(range, { title: '$(sync~spin) Running… Cancel run', command: 'saeDiff.cancelRun' })];
    }
    return [new vscode.CodeLens(range, { title: '$(play) Run diagnostic', command: 'saeDiff.runDiagnostic', arguments: [doc.uri] })];
  }

  dispose(): void {
    this.changed.dispose();
  }
}
