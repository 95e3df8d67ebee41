import * as path from 'node:path';
import * as vscode from 'vscode';
import { reportToMarkdown, shiftedFeaturesToCsv } from '../../shared/reportExport';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { ViewMessage } from '../../shared/reportMessages';
import { layerProfileSvg } from '../../shared/layerProfileSvg';
import { standaloneHtml } from './standaloneHtml';

type ExportMessage = Extract<ViewMessage, { type: 'export' }>;

const FORMATS: Record<ExportMessage['kind'], { suffix: string; filter: Record<string, string[]> }> = {
  csv: { suffix: '.shifted-features.csv', filter: { 'CSV files': ['csv'] } },
  markdown: { suffix: '.summary.md', filter: { Markdown: ['md'] } },
  png: { suffix: '.layers.png', filter: { 'PNG images': ['png'] } },
  svg: { suffix: '.layers.svg', filter: { 'SVG images': ['svg'] } },
  html: { suffix: '.report.html', filter: { 'HTML files': ['html'] } },
};

const TITLES: Record<ExportMessage['kind'], string> = {
  csv: 'shifted features',
  markdown: 'summary',
  png: 'layer profile (PNG)',
  svg: 'layer profile (SVG)',
  html: 'standalone HTML report',
};

/** Asks where to save an export (suggesting a name next to the report) and writes it. */
export async function saveExport(
  message: ExportMessage,
  report: SaeDiffReport,
  source: vscode.Uri | undefined,
  extensionRoot: string,
): Promise<void> {
  const format = FORMATS[message.kind];
  const target = await vscode.window.showSaveDialog({
    defaultUri: suggestedUri(source, format.suffix),
    filters: format.filter,
    title: `Export ${TITLES[message.kind]}`,
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, exportBytes(message, report, extensionRoot));
  void vscode.window.showInformationMessage(`SAE Diff: saved ${path.basename(target.fsPath)}`);
}

function exportBytes(message: ExportMessage, report: SaeDiffReport, extensionRoot: string): Uint8Array {
  if (message.kind === 'png') return Buffer.from(message.dataUrl.slice(message.dataUrl.indexOf(',') + 1), 'base64');
  const text =
    message.kind === 'csv'
      ? shiftedFeaturesToCsv(report)
      : message.kind === 'svg'
        ? layerProfileSvg(report)
        : message.kind === 'html'
          ? standaloneHtml(report, extensionRoot)
          : reportToMarkdown(report);
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
