import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../errors';

/** Writes a file atomically: a temp file beside it, fsync, then rename. A crash never leaves half a report. */
export function writeFileAtomic(file: string, content: string): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new SaeDiffError(`Cannot create the report folder: ${(e as Error).message}`, { location: { file, key: 'output.save_path' } });
  }
  const tmp = tempPathFor(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new SaeDiffError(`Cannot write the report: ${(e as Error).message}`, { location: { file, key: 'output.save_path' } });
  }
}

export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
