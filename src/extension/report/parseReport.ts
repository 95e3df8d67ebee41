/** Reading a report file's text into the report shape, with an error a person can act on. No vscode import. */
import type { SaeDiffReport } from '../../shared/reportTypes';
import { reportProblem } from '../../shared/reportCheck';

export function parseReport(text: string, fileName: string): SaeDiffReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${fileName} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const problem = reportShapeProblem(value);
  if (problem) throw new Error(`${fileName} is not an SAE Diff report this viewer can show: ${problem}`);
  return value as SaeDiffReport;
}

/** The full shape check (src/shared/reportCheck.ts): every field the panel reads has the right type. */
export function reportShapeProblem(value: unknown): string | undefined {
  return reportProblem(value);
}
