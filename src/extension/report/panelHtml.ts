/**
 * The report webview's HTML. Kept free of `vscode` imports so the browser test loads exactly the page
 * the extension shows.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The webview bundle scripts/build-webview.mjs writes into media/webview/: its script and its stylesheet. */
export interface PanelBundle {
  script: string;
  style: string;
}

export interface PanelHtmlResources {
  bundle: PanelBundle;
  /** A fresh random value per page load; only the script and styles carrying it run. */
  nonce: string;
  /** Shown until the script draws the first message (default: "Loading report…"). */
  placeholder?: string;
  /** The page's title (default: "SAE Diff Report"). */
  title?: string;
  /**
   * A standalone page (the saved HTML report, opened in any browser): the report it shows, embedded as JSON for
   * the script to read (webview/vscodeApi.ts), with the light theme's body class.
   */
  embeddedReport?: unknown;
}

/** webview/vscodeApi.ts EMBEDDED_REPORT_ID. */
const EMBEDDED_REPORT_ID = 'sae-diff-report';

/** Relative to the extension root; written by scripts/build-webview.mjs. */
export const WEBVIEW_SCRIPT_PATH = ['media', 'webview', 'main.js'] as const;
export const WEBVIEW_STYLE_PATH = ['media', 'webview', 'main.css'] as const;

const bundles = new Map<string, PanelBundle>();

/** The bundle of the extension at `extensionRoot`, read once per process (it changes only with the extension). */
export function readPanelBundle(extensionRoot: string): PanelBundle {
  let bundle = bundles.get(extensionRoot);
  if (!bundle) {
    bundle = {
      script: readFileSync(join(extensionRoot, ...WEBVIEW_SCRIPT_PATH), 'utf8'),
      style: readFileSync(join(extensionRoot, ...WEBVIEW_STYLE_PATH), 'utf8'),
    };
    bundles.set(extensionRoot, bundle);
  }
  return bundle;
}

export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

/** Source text inside a <script> or <style> element: it must not hold the element's closing tag. */
export function inlineSafe(source: string, tag: 'script' | 'style'): string {
  return source.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);
}

/**
 * The page with the bundle inlined, so that it loads no resource: in a browser-hosted VS Code (code-server) a
 * webview's resources come through VS Code's webview service worker, which all webviews of the origin share, and
 * a panel sometimes stayed blank until that worker gave up on its stylesheet or script after 30 s (about 1 open
 * in 3 in the end-to-end suite; none in 15 runs inlined).
 */
export function buildPanelHtml(resources: PanelHtmlResources): string {
  const { bundle, nonce, placeholder = 'Loading report…', title = 'SAE Diff Report', embeddedReport } = resources;
  const standalone = embeddedReport !== undefined;
  // No remote origins, no eval, no 'unsafe-inline': only the inlined script and styles carrying the nonce run.
  // Chart.js draws on canvas and the toolkit styles through constructable stylesheets; its one probe <style>
  // element (FAST's focus-visible check) carries the nonce it reads from the csp-nonce meta tag. img-src data: is
  // for the chart export.
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    'img-src data:',
    ...(standalone ? ['font-src data:'] : []),
  ].join('; ');
  const embedded = standalone
    ? `\n  <script type="application/json" id="${EMBEDDED_REPORT_ID}">${jsonInHtml(embeddedReport)}</script>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
  <meta property="csp-nonce" content="${escapeAttribute(nonce)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <style nonce="${escapeAttribute(nonce)}">${inlineSafe(bundle.style, 'style')}</style>
  <title>${escapeText(title)}</title>
</head>
<body${standalone ? ' class="vscode-light"' : ''}>
  <main id="app" aria-live="polite"><p class="placeholder">${escapeText(placeholder)}</p></main>${embedded}
  <script nonce="${escapeAttribute(nonce)}">${inlineSafe(bundle.script, 'script')}</script>
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

function escapeText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
