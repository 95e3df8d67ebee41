// No vscode import: naming rules for diagnostic configs, shared by the picker and the CodeLens.

/** `*.sae-diff.yaml` / `*.sae-diff.yml`. */
export function isDiagnosticConfigName(fileName: string): boolean {
  return /\.sae-diff\.ya?ml$/i.test(fileName);
}

const ROOT_KEY = /^diagnostic_pipeline[ \t]*:/m;

/** Whether YAML text has `diagnostic_pipeline` as a root (unindented) key. */
export function hasDiagnosticPipelineRoot(text: string): boolean {
  return ROOT_KEY.test(text);
}

/** 0-based line of the root `diagnostic_pipeline:` key, or -1. */
export function diagnosticPipelineLine(text: string): number {
  const match = ROOT_KEY.exec(text);
  if (!match) return -1;
  let line = 0;
  for (let i = 0; i < match.index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
