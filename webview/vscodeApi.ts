/**
 * The host bridge: the only way the page talks to the extension (typed by src/shared/reportMessages).
 * In a standalone HTML report (no VS Code) the report is embedded in the page as JSON and "sent" by the page
 * itself; exports are not offered there.
 */
import type { PersistedViewState, ViewMessage } from '../src/shared/reportMessages';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host {
  post(message: ViewMessage): void;
  loadState(): Partial<PersistedViewState> | undefined;
  saveState(state: PersistedViewState): void;
  /** A standalone HTML file: no extension behind the page. */
  standalone: boolean;
}

/** The element id of the embedded report in a standalone HTML file (src/extension/report/standaloneHtml.ts). */
export const EMBEDDED_REPORT_ID = 'sae-diff-report';

export function connectToHost(): Host {
  if (typeof acquireVsCodeApi !== 'function') return standaloneHost();
  // acquireVsCodeApi may be called only once per page.
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    loadState: () => (api.getState() as Partial<PersistedViewState> | undefined) ?? undefined,
    saveState: (state) => api.setState(state),
    standalone: false,
  };
}

/** VS Code's Light+ colours: outside VS Code no theme sets them (CSSOM writes are allowed by the CSP). */
const LIGHT_THEME: Record<string, string> = {
  '--vscode-font-family': 'system-ui, sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-foreground': '#3b3b3b',
  '--vscode-editor-background': '#ffffff',
  '--vscode-editor-foreground': '#3b3b3b',
  '--vscode-descriptionForeground': '#717171',
  '--vscode-charts-foreground': '#3b3b3b',
  '--vscode-charts-lines': 'rgba(0, 0, 0, 0.15)',
  '--vscode-focusBorder': '#005fb8',
  '--vscode-textLink-foreground': '#005fb8',
  '--vscode-panel-border': '#e5e5e5',
  '--vscode-list-hoverBackground': '#f2f2f2',
  '--vscode-list-activeSelectionBackground': '#e8e8e8',
  '--vscode-list-activeSelectionForeground': '#000000',
  '--vscode-dropdown-background': '#ffffff',
  '--vscode-dropdown-foreground': '#3b3b3b',
  '--vscode-dropdown-border': '#cecece',
  '--vscode-input-background': '#ffffff',
  '--vscode-input-foreground': '#3b3b3b',
  '--vscode-input-border': '#cecece',
  '--vscode-checkbox-background': '#f8f8f8',
  '--vscode-checkbox-border': '#cecece',
  '--vscode-checkbox-foreground': '#3b3b3b',
  '--vscode-button-secondaryBackground': '#e5e5e5',
  '--vscode-button-secondaryForeground': '#3b3b3b',
  '--vscode-charts-red': '#e51400',
  '--vscode-charts-blue': '#1a85ff',
  '--vscode-charts-green': '#388a34',
  '--vscode-charts-orange': '#d18616',
};

function standaloneHost(): Host {
  document.body.classList.add('standalone', 'vscode-light');
  for (const [name, value] of Object.entries(LIGHT_THEME)) document.documentElement.style.setProperty(name, value);
  return {
    post: (message) => {
      if (message.type !== 'ready') return;
      const embedded = document.getElementById(EMBEDDED_REPORT_ID)?.textContent;
      let data: unknown;
      try {
        data = embedded ? { type: 'report', report: JSON.parse(embedded) } : { type: 'error', message: 'this page has no embedded report' };
      } catch (error) {
        data = { type: 'error', message: `the embedded report is not valid JSON: ${(error as Error).message}` };
      }
      window.postMessage(data, '*');
    },
    loadState: () => undefined,
    saveState: () => undefined,
    standalone: true,
  };
}
