/** A subset of VS Code's theme CSS variables (Dark Modern, Light Modern, High Contrast) to emulate a webview's theme. */
export type ThemeName = 'dark' | 'light' | 'high-contrast';

const COMMON = {
  '--vscode-font-family': 'system-ui, "Segoe UI", "Ubuntu", sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-font-weight': 'normal',
  '--vscode-editor-font-family': '"DejaVu Sans Mono", monospace',
  '--vscode-editor-font-size': '12px',
};

const DARK = {
  '--vscode-foreground': '#cccccc', '--vscode-editor-background': '#1f1f1f', '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-charts-foreground': '#cccccc', '--vscode-charts-lines': 'rgba(204, 204, 204, 0.25)',
  '--vscode-charts-red': '#f14c4c', '--vscode-charts-blue': '#3794ff', '--vscode-charts-yellow': '#cca700',
  '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185', '--vscode-charts-purple': '#b180d7',
  '--vscode-terminal-ansiCyan': '#11a8cd', '--vscode-terminal-ansiMagenta': '#bc3fbc',
  '--vscode-focusBorder': '#0078d4', '--vscode-editorWidget-border': '#454545', '--vscode-panel-border': '#2b2b2b',
  '--vscode-list-hoverBackground': '#2a2d2e', '--vscode-list-activeSelectionBackground': '#04395e', '--vscode-list-activeSelectionForeground': '#ffffff',
  '--vscode-textLink-foreground': '#4daafc', '--vscode-textBlockQuote-background': '#2b2b2b', '--vscode-textCodeBlock-background': '#2b2b2b',
  '--vscode-editor-findMatchHighlightBackground': 'rgba(234, 92, 0, 0.33)',
  '--vscode-badge-background': '#616161', '--vscode-badge-foreground': '#f8f8f8',
  '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#026ec1',
  '--vscode-button-secondaryBackground': '#313131', '--vscode-button-secondaryForeground': '#cccccc', '--vscode-button-secondaryHoverBackground': '#3c3c3c',
  '--vscode-button-border': 'rgba(255, 255, 255, 0.07)',
  '--vscode-dropdown-background': '#313131', '--vscode-dropdown-foreground': '#cccccc', '--vscode-dropdown-border': '#3c3c3c', '--vscode-dropdown-listBackground': '#1f1f1f',
  '--vscode-input-background': '#313131', '--vscode-input-foreground': '#cccccc', '--vscode-input-border': '#3c3c3c', '--vscode-input-placeholderForeground': '#989898',
  '--vscode-checkbox-background': '#313131', '--vscode-checkbox-border': '#3c3c3c', '--vscode-checkbox-foreground': '#cccccc',
  '--vscode-progressBar-background': '#0078d4', '--vscode-inputValidation-infoBackground': '#063b49', '--vscode-inputValidation-infoBorder': '#1b81a8',
  '--vscode-editorWarning-foreground': '#cca700',
};

const LIGHT = {
  '--vscode-foreground': '#3b3b3b', '--vscode-editor-background': '#ffffff', '--vscode-descriptionForeground': '#717171',
  '--vscode-charts-foreground': '#616161', '--vscode-charts-lines': 'rgba(97, 97, 97, 0.25)',
  '--vscode-charts-red': '#e51400', '--vscode-charts-blue': '#1a85ff', '--vscode-charts-yellow': '#bf8803',
  '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34', '--vscode-charts-purple': '#652d90',
  '--vscode-terminal-ansiCyan': '#0598bc', '--vscode-terminal-ansiMagenta': '#bc05bc',
  '--vscode-focusBorder': '#005fb8', '--vscode-editorWidget-border': '#c8c8c8', '--vscode-panel-border': '#e5e5e5',
  '--vscode-list-hoverBackground': '#f2f2f2', '--vscode-list-activeSelectionBackground': '#e8e8e8', '--vscode-list-activeSelectionForeground': '#000000',
  '--vscode-textLink-foreground': '#005fb8', '--vscode-textBlockQuote-background': '#f8f8f8', '--vscode-textCodeBlock-background': '#f2f2f2',
  '--vscode-editor-findMatchHighlightBackground': 'rgba(234, 92, 0, 0.33)',
  '--vscode-badge-background': '#cccccc', '--vscode-badge-foreground': '#3b3b3b',
  '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#0258a8',
  '--vscode-button-secondaryBackground': '#e5e5e5', '--vscode-button-secondaryForeground': '#3b3b3b', '--vscode-button-secondaryHoverBackground': '#cccccc',
  '--vscode-button-border': 'rgba(0, 0, 0, 0.1)',
  '--vscode-dropdown-background': '#ffffff', '--vscode-dropdown-foreground': '#3b3b3b', '--vscode-dropdown-border': '#cecece', '--vscode-dropdown-listBackground': '#ffffff',
  '--vscode-input-background': '#ffffff', '--vscode-input-foreground': '#3b3b3b', '--vscode-input-border': '#cecece', '--vscode-input-placeholderForeground': '#767676',
  '--vscode-checkbox-background': '#f8f8f8', '--vscode-checkbox-border': '#cecece', '--vscode-checkbox-foreground': '#3b3b3b',
  '--vscode-progressBar-background': '#005fb8', '--vscode-inputValidation-infoBackground': '#d6ecf2', '--vscode-inputValidation-infoBorder': '#007acc',
  '--vscode-editorWarning-foreground': '#bf8803',
};

const HIGH_CONTRAST = {
  ...DARK,
  '--vscode-foreground': '#ffffff', '--vscode-editor-background': '#000000', '--vscode-descriptionForeground': '#ffffff',
  '--vscode-charts-foreground': '#ffffff', '--vscode-charts-lines': 'rgba(255, 255, 255, 0.4)',
  '--vscode-contrastBorder': '#6fc3df', '--vscode-contrastActiveBorder': '#f38518', '--vscode-focusBorder': '#f38518',
  '--vscode-editorWidget-border': '#6fc3df', '--vscode-list-activeSelectionBackground': '#000000',
  '--vscode-button-background': '#000000', '--vscode-button-border': '#6fc3df',
  '--vscode-dropdown-background': '#000000', '--vscode-dropdown-border': '#6fc3df', '--vscode-input-background': '#000000', '--vscode-input-border': '#6fc3df',
};

export const THEMES: Record<ThemeName, { bodyClass: string; variables: Record<string, string> }> = {
  dark: { bodyClass: 'vscode-dark', variables: { ...COMMON, ...DARK } },
  light: { bodyClass: 'vscode-light', variables: { ...COMMON, ...LIGHT } },
  'high-contrast': { bodyClass: 'vscode-high-contrast', variables: { ...COMMON, ...HIGH_CONTRAST } },
};
