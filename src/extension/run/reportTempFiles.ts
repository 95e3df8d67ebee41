import * as fs from 'fs';
import * as path from 'path';

/**
 * The engine writes `<report>.tmp-*` and renames it into place; a worker killed mid-write leaves the
 * temporary file behind. Removes those (never the report itself). Returns the removed paths.
 */
export function removeReportTempFiles(reportPath: string): string[] {
  const dir = path.dirname(reportPath);
  const prefix = `${path.basename(reportPath)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const file = path.join(dir, name);
    try {
      fs.rmSync(file, { force: true });
      removed.push(file);
    } catch {
      /* best effort: a locked file on Windows */
    }
  }
  return removed;
}
