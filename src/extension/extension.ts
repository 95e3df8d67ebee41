import * as vscode from 'vscode';
import { registerConfigAuthoring } from './authoring/register';
import { registerReportViews } from './report/register';
import { registerRunCommands } from './run/register';

/** The extension adapts the engine to VS Code; each feature registers itself from its own folder. */
export function activate(context: vscode.ExtensionContext): void {
  const reports = registerReportViews(context);
  registerConfigAuthoring(context);
  registerRunCommands(context, reports);
}

export function deactivate(): void {}
