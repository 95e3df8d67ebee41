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
    batchSize: c.get<number>('batchSize', 16),
    // 0 = all cores: leave it to the engine
    threads: threads > 0 ? threads : undefined,
  };
}

export function openReportWhenDone(scope?: vscode.Uri): boolean {
  return vscode.workspace.getConfiguration('saeDiff', scope).get<boolean>('openReportWhenDone', true);
}

export function configuredProvider(scope?: vscode.Uri): ProviderRequest {
  return vscode.workspace.getConfiguration('saeDiff', scope).get<ProviderRequest>('executionProvider', 'auto');
}
