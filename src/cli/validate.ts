import * as fs from 'fs';
import * as path from 'path';
import { parseAndCheckConfigText } from '../engine/config/diagnostics';

/** `sae-diff validate`: prints file:line:col: severity: message for each problem; exit 1 on errors. */
export async function runValidate(file: string): Promise<number> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    process.stderr.write(`${abs}: error: cannot read the file: ${(e as Error).message}\n`);
    return 1;
  }
  const diagnostics = parseAndCheckConfigText(text).diagnostics;
  for (const d of diagnostics) process.stdout.write(`${abs}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (diagnostics.length === 0) process.stdout.write(`${abs}: ok\n`);
  return errors > 0 ? 1 : 0;
}
