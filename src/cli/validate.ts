import * as fs from 'fs';
import * as path from 'path';
import { formatDiagnosticLine, validateConfigFile } from '../engine/authoring/index';

/** `sae-diff validate`: prints file:line:col: severity: message for each problem; exit 1 on errors. */
export async function runValidate(file: string): Promise<number> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) {
    process.stderr.write(`${abs}: error: the file does not exist\n`);
    return 1;
  }
  const diagnostics = await validateConfigFile(abs);
  for (const d of diagnostics) process.stdout.write(formatDiagnosticLine(abs, d) + '\n');
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (diagnostics.length === 0) process.stdout.write(`${abs}: ok\n`);
  return errors > 0 ? 1 : 0;
}
