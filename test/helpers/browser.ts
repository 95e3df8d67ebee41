/**
 * Loads the report panel in headless Debian Chromium the way VS Code would: the extension's own HTML
 * (strict CSP, nonce) with the built bundle from media/webview/ inlined, a stub `acquireVsCodeApi` that records
 * postMessage and keeps setState, and VS Code theme variables on the page.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildPanelHtml, createNonce, readPanelBundle } from '../../src/extension/report/panelHtml';
import { standaloneHtml } from '../../src/extension/report/standaloneHtml';
import type { SaeDiffReport } from '../../src/shared/reportTypes';
import type { HostMessage } from '../../src/shared/reportMessages';
import { REPO_ROOT } from './engineReport';
import { THEMES, type ThemeName } from './vscodeThemes';

// Functions below run inside the page (Playwright serialises them); the root tsconfig has no DOM lib,
// so the page globals are declared here, for this module only.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
declare const MutationObserver: any;

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Builds the webview bundle when a test runs before `npm run build` made it. */
export function ensureWebviewBundle(): void {
  if (!existsSync(join(REPO_ROOT, 'media', 'webview', 'main.js'))) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-webview.mjs')], { stdio: 'inherit' });
  }
}

/** Why the browser tests cannot run here, or undefined. In CI (CI set) a missing Chromium is an error, not a skip. */
export function chromiumMissingReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  const why = `${CHROMIUM_PATH} is not installed (apt-get install chromium); the webview browser test needs it`;
  if (process.env.CI) throw new Error(`${why}: CI must run the browser tests (.ci/run installs it)`);
  return why;
}

export interface PanelPage {
  page: Page;
  /** Messages the page sent to the "extension". */
  posted(): Promise<unknown[]>;
  /** Sends a message as the extension would (webview.postMessage). */
  send(message: HostMessage): Promise<void>;
  setTheme(theme: ThemeName): Promise<void>;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  close(): Promise<void>;
}

export async function openPanel(options: { theme: ThemeName; savedState?: unknown }): Promise<PanelPage> {
  const server = await servePanel();
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const profile = mkdtempSync(join(tmpdir(), 'sae-diff-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    // Only the local server may be reached: a request elsewhere would be a remote resource.
    await context.route('**/*', (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort()));
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    await page.addInitScript(installVsCodeStub, { savedState: options.savedState ?? null, theme: THEMES[options.theme] });
    await page.goto(`${origin}/panel.html`);
    await page.waitForFunction(() => (window as unknown as StubWindow).__posted.some((m) => (m as { type?: string }).type === 'ready'));
    const panel: PanelPage = {
      page,
      problems,
      posted: () => page.evaluate(() => (window as unknown as StubWindow).__posted),
      send: (message) => page.evaluate((m) => window.postMessage(m, '*'), message),
      setTheme: (theme) => page.evaluate(applyTheme, THEMES[theme]),
      close: async () => {
        problems.push(...(await page.evaluate(() => (window as unknown as StubWindow).__cspViolations)));
        await context?.close();
        server.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
    return panel;
  } catch (error) {
    await context?.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }

  /** Serves the panel page (its bundle inlined, as the extension gives it to VS Code); nothing else. */
  function servePanel(): Promise<Server> {
    const http = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== '/panel.html') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(buildPanelHtml({ bundle: readPanelBundle(REPO_ROOT), nonce: createNonce() }));
    });
    return new Promise((done) => http.listen(0, '127.0.0.1', () => done(http)));
  }
}

interface StubWindow {
  __posted: unknown[];
  __state: unknown;
  __cspViolations: string[];
  acquireVsCodeApi(): unknown;
}

/** Runs in the page before its scripts (so it is not subject to the page's CSP). */
function installVsCodeStub(input: { savedState: unknown; theme: { bodyClass: string; variables: Record<string, string> } }): void {
  const w = window as unknown as StubWindow;
  w.__posted = [];
  w.__state = input.savedState ?? undefined;
  w.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event: any) =>
    w.__cspViolations.push(
      `CSP: ${event.violatedDirective} blocked ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber} (${event.sample})`,
    ),
  );
  w.acquireVsCodeApi = () => ({
    postMessage: (message: unknown) => w.__posted.push(JSON.parse(JSON.stringify(message))),
    getState: () => w.__state,
    setState: (state: unknown) => {
      w.__state = state;
    },
  });
  // The init script runs before <html> exists: apply the theme as soon as <html> and <body> do.
  const applyWhenParsed = () => {
    if (!document.documentElement) return false;
    for (const [name, value] of Object.entries(input.theme.variables)) document.documentElement.style.setProperty(name, value);
    if (!document.body) return false;
    document.body.classList.add(input.theme.bodyClass);
    return true;
  };
  if (!applyWhenParsed()) {
    const observer = new MutationObserver(() => {
      if (applyWhenParsed()) observer.disconnect();
    });
    observer.observe(document, { childList: true, subtree: true });
  }
}

function applyTheme(theme: { bodyClass: string; variables: Record<string, string> }): void {
  for (const [name, value] of Object.entries(theme.variables)) document.documentElement.style.setProperty(name, value);
  document.documentElement.style.removeProperty('--vscode-contrastBorder');
  document.documentElement.style.removeProperty('--vscode-contrastActiveBorder');
  for (const [name, value] of Object.entries(theme.variables)) document.documentElement.style.setProperty(name, value);
  document.body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast');
  document.body.classList.add(theme.bodyClass);
}

/** A standalone HTML report (src/extension/report/standaloneHtml.ts) opened offline in Chromium. */
export interface StandalonePage {
  page: Page;
  /** Requests that were not the file itself (refused: the page must work offline), and page errors. */
  problems: string[];
  /** The CSP directives the page violated so far. */
  cspViolations(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Writes `report` as a standalone HTML file and opens it from disk: every request other than the file
 * fails and is recorded, and the page's CSP violations are collected.
 */
export async function openStandaloneHtml(report: SaeDiffReport): Promise<StandalonePage> {
  const dir = mkdtempSync(join(tmpdir(), 'sae-diff-html-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, standaloneHtml(report, REPO_ROOT));
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const problems: string[] = [];
  const close = async () => {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await context.route('**/*', (route) =>
      route.request().url().startsWith('file:') ? route.continue() : (problems.push(`request: ${route.request().url()}`), route.abort()),
    );
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (event: { violatedDirective: string }) =>
        window.__csp.push(event.violatedDirective),
      );
    });
    await page.goto(pathToFileURL(file).href);
    const cspViolations = (): Promise<string[]> => page.evaluate(() => window.__csp);
    return { page, problems, cspViolations, close };
  } catch (e) {
    await close();
    throw e;
  }
}
