import type { ConfigDiagnostic } from '../config/configDiagnostic';

/** `file:line:col: severity: message` with 1-based line and column, as compilers print. */
export function formatDiagnosticLine(file: string, d: ConfigDiagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}`;
}
