/** Reading a report file's text into the report shape, with an error a person can act on. No vscode import. */
import type { SaeDiffReport } from '../../engine/report/types';

export function parseReport(text: string, fileName: string): SaeDiffReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${fileName} is not valid JSON: ${(error as Error).message}`);
  }
  const problem = reportShapeProblem(value);
  if (problem) throw new Error(`${fileName} is not an SAE Diff report: ${problem}`);
  return value as SaeDiffReport;
}

/** Only what the panel needs to render without crashing; the engine's schema owns the full shape. */
export function reportShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'expected a JSON object';
  const report = value as Partial<SaeDiffReport>;
  if (report.format !== 'sae-diff-report') return `"format" is ${JSON.stringify(report.format)}, expected "sae-diff-report"`;
  if (report.version !== 1) return `unsupported version ${JSON.stringify(report.version)} (this viewer reads version 1)`;
  if (typeof report.run !== 'object' || report.run === null) return 'missing "run"';
  if (typeof report.base !== 'object' || report.base === null) return 'missing "base"';
  if (!Array.isArray(report.comparisons)) return '"comparisons" is not a list';
  for (const [index, comparison] of report.comparisons.entries()) {
    if (!Array.isArray(comparison?.layers)) return `comparisons[${index}].layers is not a list`;
  }
  return undefined;
}
