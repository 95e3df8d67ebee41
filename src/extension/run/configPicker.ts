import * as path from 'path';
import * as vscode from 'vscode';
import { CONFIG_GLOB, isConfigFile } from '../../engine/config/configFileRule';
import { isConfigDocument } from '../configDocument';

const EXCLUDE = '**/{node_modules,.git,out}/**';
const MAX_SCANNED_BYTES = 1024 * 1024;

/** Whether an open document is a config that can run: one that is validated (the one rule), saved as a file. */
export function isDiagnosticConfigDocument(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === 'file' && isConfigDocument(doc);
}

/** The config to run: the one given, the active editor's, the only one in the workspace, or the user's pick. */
export async function pickConfig(given?: vscode.Uri): Promise<vscode.Uri | undefined> {
  if (given) return given;
  const active = vscode.window.activeTextEditor?.document;
  if (active && isDiagnosticConfigDocument(active)) return active.uri;

  const configs = await findWorkspaceConfigs();
  if (configs.length === 1) return configs[0];
  if (configs.length === 0) {
    const action = await vscode.window.showInformationMessage(
      'SAE Diff: no diagnostic config found in this workspace (*.sae-diff.yaml, or a YAML file with a diagnostic_pipeline section).',
      'New Diagnostic Config',
    );
    if (action) await vscode.commands.executeCommand('saeDiff.newConfig');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    configs.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(uri), uri })),
    { title: 'SAE Diff: Run Diagnostic', placeHolder: 'Which config?' },
  );
  return picked?.uri;
}

export async function findWorkspaceConfigs(): Promise<vscode.Uri[]> {
  const named = await vscode.workspace.findFiles(CONFIG_GLOB, EXCLUDE);
  const yaml = await vscode.workspace.findFiles('**/*.{yaml,yml}', EXCLUDE, 2000);
  const found = new Map(named.map((u) => [u.toString(), u]));
  for (const uri of yaml) {
    if (found.has(uri.toString())) continue;
    if (await hasPipelineRootOnDisk(uri)) found.set(uri.toString(), uri);
  }
  return [...found.values()].sort((a, b) => a.fsPath.localeCompare(b.fsPath));
}

async function hasPipelineRootOnDisk(uri: vscode.Uri): Promise<boolean> {
  try {
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.size > MAX_SCANNED_BYTES) return false;
    return isConfigFile(uri.fsPath, Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8'));
  } catch {
    return false;
  }
}
