import * as fs from 'fs';

/** Reads exactly `length` bytes at `position` of an open file into `out` at `outOffset` (short reads are continued). */
export function readAt(fd: number, out: Uint8Array, outOffset: number, length: number, position: number, file: string): void {
  for (let done = 0; done < length;) {
    const n = fs.readSync(fd, out, outOffset + done, length - done, position + done);
    if (n === 0) throw new Error(`${file} ends before byte ${position + length}`);
    done += n;
  }
}
