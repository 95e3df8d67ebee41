/**
 * The report webview's HTML. Kept free of `vscode` imports so the browser test loads exactly the page
 * the extension shows, with only the resource URIs swapped.
 */
import { randomBytes } from 'node:crypto';

export interface PanelHtmlResources {
  /** `webview.cspSource`: the origin the webview may load local resources from. */
  cspSource: string;
  /** URIs (as webview URIs) of the bundled script and stylesheet in media/webview/. */
  scriptUri: string;
  styleUri: string;
  /** A fresh random value per page load; only scripts carrying it run. */
  nonce: string;
  /** Shown until the script draws the first message (default: "Loading report…"). */
  placeholder?: string;
}

/** Relative to the extension root; written by scripts/build-webview.mjs. */
export const WEBVIEW_SCRIPT_PATH = ['media', 'webview', 'main.js'] as const;
export const WEBVIEW_STYLE_PATH = ['media', 'webview', 'main.css'] as const;

export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

export function buildPanelHtml(resources: PanelHtmlResources): string {
  const { cspSource, scriptUri, styleUri, nonce, placeholder = 'Loading report…' } = resources;
  // No remote origins, no inline script, no eval, no 'unsafe-inline'. Chart.js draws on canvas and the
  // toolkit styles through constructable stylesheets; its one probe <style> element (FAST's focus-visible
  // check) carries the nonce it reads from the csp-nonce meta tag. img-src data: is for the chart export.
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
  <meta property="csp-nonce" content="${escapeAttribute(nonce)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${escapeAttribute(styleUri)}">
  <title>SAE Diff Report</title>
</head>
<body>
  <main id="app" aria-live="polite"><p class="placeholder">${escapeAttribute(placeholder)}</p></main>
  <script nonce="${escapeAttribute(nonce)}" src="${escapeAttribute(scriptUri)}"></script>
</body>
</html>`;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
