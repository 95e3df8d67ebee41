import * as vscode from 'vscode';
import { probeKernelsInChild } from '../../engine/pipeline/kernelProbe';
import { realDoctorEnv, runDoctor } from '../../engine/runtime/doctor';
import { formatDoctor } from '../../engine/runtime/doctorText';
import { isDiagnosticConfigDocument } from '../run/configPicker';

/**
 * "SAE Diff: Check GPU": the engine's doctor report (the same text as `npx sae-diff doctor`) in an output
 * channel; with a diagnostic config in the active editor, also how its base model runs on each GPU provider.
 */
export function registerCheckGpu(context: vscode.ExtensionContext): void {
  let channel: vscode.OutputChannel | undefined;
  context.subscriptions.push(
    vscode.commands.registerCommand('saeDiff.checkGpu', async () => {
      const active = vscode.window.activeTextEditor?.document;
      const config = active && isDiagnosticConfigDocument(active) ? active.uri.fsPath : undefined;
      channel ??= vscode.window.createOutputChannel('SAE Diff: Check GPU');
      context.subscriptions.push(channel);
      const text = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: 'SAE Diff: checking which execution providers load, and their SAE kernels…',
        },
        async () => formatDoctor(await runDoctor(realDoctorEnv((p) => probeKernelsInChild(p, config)))),
      );
      channel.clear();
      channel.append(text);
      channel.show(true);
    }),
  );
}
