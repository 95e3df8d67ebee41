import * as fs from 'fs';
import * as path from 'path';

/** Whether two paths name one file: the same resolved path, or (through links) the same device and inode. */
export function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a),
      sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}
