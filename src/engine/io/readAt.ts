import * as fs from 'fs';

/** Reads exactly `length` bytes at `position` of an open file into `out` at `outOffset` (short reads are continued). */
export function readAt(fd: number, out: Uint8Array, outOffset: number, length: number, position: number, file: string): void {
  for (let done = 0; done < length;) {
    const n = fs.readSync(fd, out, outOffset + done, length - done, position + done);
    if (n === 0) throw new Error(`${file} ends before byte ${position + length}`);
    done += n;
  }
}

/** Exactly `length` bytes of `file` from byte `position`: one tensor of a weights file. */
export function readRange(file: string, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const fd = fs.openSync(file, 'r');
  try {
    readAt(fd, out, 0, length, position, file);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}
