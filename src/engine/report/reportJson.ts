/**
 * A report as JSON text: indented one space per level (readable), but every array of plain numbers on one
 * line, so per-feature columns and activation histograms cost a few bytes per number, not a line each (a
 * 24-bin histogram row indented on 24 lines is about 5 times its compact size). Only formatting newlines are
 * touched: a newline inside a JSON string is always escaped, so no string can match.
 */
const NUMBER = String.raw`(?:-?\d[\d.eE+-]*|null)`;
const INDENTED_NUMBER_ARRAY = new RegExp(String.raw`\[\n *${NUMBER}(?:,\n *${NUMBER})*\n *\]`, 'g');

export function reportJson(report: unknown): string {
  return JSON.stringify(report, null, 1).replace(INDENTED_NUMBER_ARRAY, (array) => array.replace(/\s+/g, '')) + '\n';
}
