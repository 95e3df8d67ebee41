/**
 * A standalone HTML report: one file that works offline in any browser, with the panel's own bundle and
 * stylesheet inlined and the report embedded as JSON. Same CSP discipline as the panel: nothing remote, no
 * eval, no inline event handlers; only the inlined script and styles carrying this file's nonce run.
 * No vscode import (the CLI and tests build it too).
 */
import type { SaeDiffReport } from '../../shared/reportTypes';
import { createNonce, inlineSafe, readPanelBundle } from './panelHtml';

/** webview/vscodeApi.ts EMBEDDED_REPORT_ID. */
const EMBEDDED_REPORT_ID = 'sae-diff-report';

export function standaloneHtml(report: SaeDiffReport, extensionRoot: string): string {
  const { script, style } = readPanelBundle(extensionRoot);
  const nonce = createNonce();
  const csp = ["default-src 'none'", `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`, 'img-src data:', 'font-src data:'].join(
    '; ',
  );
  const title = `SAE Diff: ${report.base?.name ?? 'base'} → ${(report.comparisons ?? []).map((c) => c?.sft?.name).join(', ')}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
  <meta property="csp-nonce" content="${attr(nonce)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>${text(title)}</title>
  <style nonce="${attr(nonce)}">${inlineSafe(style, 'style')}</style>
</head>
<body class="vscode-light">
  <main id="app" aria-live="polite"><p class="placeholder">Loading report…</p></main>
  <script type="application/json" id="${EMBEDDED_REPORT_ID}">${jsonInHtml(report)}</script>
  <script nonce="${attr(nonce)}">${inlineSafe(script, 'script')}</script>
</body>
</html>
`;
}

/** JSON inside a script element: `<` escaped, so no string in the report can close the element or open a comment. */
function jsonInHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
