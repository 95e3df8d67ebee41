/**
 * A standalone HTML report: one file that works offline in any browser, with the panel's own bundle and
 * stylesheet inlined and the report embedded as JSON. Same CSP discipline as the panel: nothing remote, no
 * eval, no inline event handlers; only the inlined script and styles carrying this file's nonce run.
 * No vscode import (the CLI and tests build it too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SaeDiffReport } from '../../shared/reportTypes';
import { WEBVIEW_SCRIPT_PATH, WEBVIEW_STYLE_PATH, createNonce } from './panelHtml';

/** webview/vscodeApi.ts EMBEDDED_REPORT_ID. */
const EMBEDDED_REPORT_ID = 'sae-diff-report';

export function standaloneHtml(report: SaeDiffReport, extensionRoot: string): string {
  const script = readFileSync(join(extensionRoot, ...WEBVIEW_SCRIPT_PATH), 'utf8');
  const style = readFileSync(join(extensionRoot, ...WEBVIEW_STYLE_PATH), 'utf8');
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
  <style nonce="${attr(nonce)}">${closeTagSafe(style, 'style')}</style>
</head>
<body class="vscode-light">
  <main id="app" aria-live="polite"><p class="placeholder">Loading report…</p></main>
  <script type="application/json" id="${EMBEDDED_REPORT_ID}">${jsonInHtml(report)}</script>
  <script nonce="${attr(nonce)}">${closeTagSafe(script, 'script')}</script>
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

/** The bundle must not contain its own closing tag (it would end the element early). */
function closeTagSafe(source: string, tag: string): string {
  return source.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);
}

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
