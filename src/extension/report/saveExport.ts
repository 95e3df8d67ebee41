import * as path from 'node:path';
import * as vscode from 'vscode';
import { reportToMarkdown, shiftedFeaturesToCsv } from '../../engine/report/export';
import type { SaeDiffReport } from '../../engine/report/types';
import type { ViewMessage } from '../../shared/reportMessages';

type ExportMessage = Extract<ViewMessage, { type: 'export' }>;

const FORMATS: Record<ExportMessage['kind'], { suffix: string; filter: Record<string, string[]> }> = {
  csv: { suffix: '.shifted-features.csv', filter: { 'CSV files': ['csv'] } },
  markdown: { suffix: '.summary.md', filter: { Markdown: ['md'] } },
  png: { suffix: '.layers.png', filter: { 'PNG images': ['png'] } },
};

/** Asks where to save an export (suggesting a name next to the report) and writes it. */
export async function saveExport(message: ExportMessage, report: SaeDiffReport, source: vscode.Uri | undefined): Promise<void> {
  const format = FORMATS[message.kind];
  const target = await vscode.window.showSaveDialog({
    defaultUri: suggestedUri(source, format.suffix),
    filters: format.filter,
    title: `Export ${message.kind === 'png' ? 'layer chart' : message.kind === 'csv' ? 'shifted features' : 'summary'}`,
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, exportBytes(message, report));
  void vscode.window.showInformationMessage(`SAE Diff: saved ${path.basename(target.fsPath)}`);
}

function exportBytes(message: ExportMessage, report: SaeDiffReport): Uint8Array {
  if (message.kind === 'png') return Buffer.from(message.dataUrl.slice(message.dataUrl.indexOf(',') + 1), 'base64');
  const text = message.kind === 'csv' ? shiftedFeaturesToCsv(report) : reportToMarkdown(report);
  return Buffer.from(text, 'utf8');
}

function suggestedUri(source: vscode.Uri | undefined, suffix: string): vscode.Uri | undefined {
  if (source?.scheme === 'file') {
    const base = path.basename(source.fsPath).replace(/\.sae-report\.json$|\.json$/, '');
    return vscode.Uri.file(path.join(path.dirname(source.fsPath), base + suffix));
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  return folder ? vscode.Uri.joinPath(folder, 'sae-diff' + suffix) : undefined;
}
