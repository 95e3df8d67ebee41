import * as vscode from 'vscode';
import { registerConfigAuthoring } from './authoring/register';
import { registerCheckGpu } from './doctor/checkGpuCommand';
import { registerReportViews } from './report/register';
import { registerRunCommands } from './run/register';

/** The extension adapts the engine to VS Code; each feature registers itself from its own folder. */
export function activate(context: vscode.ExtensionContext): void {
  const reports = registerReportViews(context);
  registerConfigAuthoring(context);
  registerRunCommands(context, reports);
  registerCheckGpu(context);
}

export function deactivate(): void {}
