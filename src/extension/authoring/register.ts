import * as vscode from 'vscode';
import { LiveDiagnostics } from './liveDiagnostics';
import { newConfigCommand } from './newConfigCommand';
import { COMPLETION_TRIGGERS, configCodeActionProvider, configCompletionProvider, configHoverProvider } from './providers';

/** Config authoring: diagnostics as you type, hovers, completions, quick fixes, new-config command. */
export function registerConfigAuthoring(context: vscode.ExtensionContext): void {
  // Every YAML document is offered; each provider decides per document (file name or root key).
  const yaml: vscode.DocumentSelector = [
    { language: 'yaml', scheme: 'file' },
    { language: 'yaml', scheme: 'untitled' },
  ];
  const live = new LiveDiagnostics();
  context.subscriptions.push(
    live,
    vscode.workspace.onDidOpenTextDocument((doc) => live.schedule(doc, true)),
    vscode.workspace.onDidChangeTextDocument((e) => live.schedule(e.document)),
    vscode.workspace.onDidCloseTextDocument((doc) => live.clear(doc)),
    vscode.languages.registerHoverProvider(yaml, configHoverProvider),
    vscode.languages.registerCompletionItemProvider(yaml, configCompletionProvider, ...COMPLETION_TRIGGERS),
    vscode.languages.registerCodeActionsProvider(yaml, configCodeActionProvider, {
      providedCodeActionKinds: [vscode.CodeActionKind.QuickFix],
    }),
    vscode.commands.registerCommand('saeDiff.newConfig', newConfigCommand),
  );
  for (const doc of vscode.workspace.textDocuments) live.schedule(doc, true);
}
