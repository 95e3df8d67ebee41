import * as vscode from 'vscode';

/** Config authoring: diagnostics as you type, hovers, completions, quick fixes, new-config command. */
export function registerConfigAuthoring(_context: vscode.ExtensionContext): void {
  // Filled in by the config-authoring work (issue 3).
}
