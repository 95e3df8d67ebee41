/**
 * A standalone HTML report: one file that works offline in any browser, with the panel's own bundle and
 * stylesheet inlined and the report embedded as JSON. Same CSP discipline as the panel: nothing remote, no
 * eval, no inline event handlers; only the inlined script and styles carrying this file's nonce run.
 * No vscode import (the CLI and tests build it too).
 */
import type { SaeDiffReport } from '../../shared/reportTypes';
import { buildPanelHtml, createNonce, readPanelBundle } from './panelHtml';

export function standaloneHtml(report: SaeDiffReport, extensionRoot: string): string {
  const title = `SAE Diff: ${report.base?.name ?? 'base'} → ${(report.comparisons ?? []).map((c) => c?.sft?.name).join(', ')}`;
  return buildPanelHtml({ bundle: readPanelBundle(extensionRoot), nonce: createNonce(), title, embeddedReport: report });
}
