import * as vscode from 'vscode';
import type { ProviderRequest } from '../../engine/config/types';
import type { RunDefaults } from '../../engine/worker/messages';

/** The saeDiff.* settings a run uses where the config file's runtime section is silent. */
export function readRunDefaults(scope?: vscode.Uri): RunDefaults {
  const c = vscode.workspace.getConfiguration('saeDiff', scope);
  const threads = c.get<number>('threads', 0);
  return {
    provider: c.get<ProviderRequest>('executionProvider', 'auto'),
    fallback: c.get<boolean>('fallbackToCpu', true),
    // only when the user set it: otherwise the engine's default (16 on CPU; from device memory on a GPU)
    batchSize: explicitlySet(c, 'batchSize') ? c.get<number>('batchSize') : undefined,
    // 0 = all cores: leave it to the engine
    threads: threads > 0 ? threads : undefined,
  };
}

/** Whether a user, workspace or folder setting gives `key` (not just the contributed default). */
function explicitlySet(c: vscode.WorkspaceConfiguration, key: string): boolean {
  const i = c.inspect(key);
  return [i?.globalValue, i?.workspaceValue, i?.workspaceFolderValue].some((v) => v !== undefined);
}

export function openReportWhenDone(scope?: vscode.Uri): boolean {
  return vscode.workspace.getConfiguration('saeDiff', scope).get<boolean>('openReportWhenDone', true);
}

export function configuredProvider(scope?: vscode.Uri): ProviderRequest {
  return vscode.workspace.getConfiguration('saeDiff', scope).get<ProviderRequest>('executionProvider', 'auto');
}
