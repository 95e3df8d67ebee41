import { parse } from 'yaml';
import * as vscode from 'vscode';
import type { ProviderRequest } from '../../engine/config/types';
import { cudaBinariesInstalled } from '../../engine/runtime/providers';
import { runtimeSectionOf } from '../../engine/worker/runSettings';
import { isDiagnosticConfigDocument } from './configPicker';

const SETTING = 'executionProvider';

/** Quick pick writing saeDiff.executionProvider. */
export async function selectExecutionProvider(): Promise<void> {
  const config = vscode.workspace.getConfiguration('saeDiff');
  const current = config.get<ProviderRequest>(SETTING, 'auto');
  const items = providerItems().map((i) => ({ ...i, label: i.label === current ? `$(check) ${i.label}` : i.label, value: i.label }));
  const picked = await vscode.window.showQuickPick(items, { title: 'SAE Diff: Execution Provider', placeHolder: `Current: ${current}` });
  if (!picked) return;
  // A hardware choice belongs to the user; keep writing the workspace when it already overrides the user value.
  const target =
    config.inspect(SETTING)?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update(SETTING, picked.value, target);
  const fileProvider = activeConfigProvider();
  if (fileProvider) {
    void vscode.window.showInformationMessage(
      `SAE Diff: the open config sets runtime.execution_provider: ${fileProvider}, which takes precedence over the setting for that file.`,
    );
  }
}

function providerItems(): { label: ProviderRequest; description: string }[] {
  const p = process.platform;
  const cuda =
    p === 'linux' || p === 'win32'
      ? cudaBinariesInstalled()
        ? 'NVIDIA GPU (CUDA binaries installed)'
        : 'NVIDIA GPU: CUDA binaries of onnxruntime-node not installed'
      : `not available on ${p}`;
  // keyed by every allowed value (generated from the schema), so a new provider does not compile without a description
  const descriptions: Record<ProviderRequest, string> = {
    auto: 'CUDA where installed, DirectML on Windows, CoreML on macOS, WebGPU where it loads, else CPU',
    cuda,
    webgpu: 'GPU through WebGPU, where onnxruntime-node can load it',
    dml: p === 'win32' ? 'DirectML (Windows GPU)' : 'DirectML: Windows only',
    coreml: p === 'darwin' ? 'CoreML (Apple GPU / Neural Engine)' : 'CoreML: macOS only',
    cpu: 'Always available',
  };
  return Object.entries(descriptions).map(([label, description]) => ({ label: label as ProviderRequest, description }));
}

function activeConfigProvider(): string | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || !isDiagnosticConfigDocument(doc)) return undefined;
  try {
    const value = runtimeSectionOf(parse(doc.getText()))?.execution_provider;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
