/**
 * The entries of a zip archive whose members are stored uncompressed, located in place: torch.save's archives
 * (torch/serialization.py writes them through PyTorchFileWriter, miniz, every record stored and aligned so
 * that tensors can be read where they lie). Only the central directory and local headers are read, never the
 * data: a weights file of gigabytes costs a few KB here. Zip64 records (archives or members above 4 GiB,
 * written by miniz when needed) are followed. A compressed or encrypted member is refused, naming it.
 *
 * Hand-written rather than a zip library's: the readers on npm hand out streams of an entry, while the tensor
 * readers need each stored member's byte range in the file, to read single rows and columns of it.
 */
import * as fs from 'fs';
import { SaeDiffError } from '../core/errors';
import { openRegularFile } from './boundedRead';
import { readAt } from './readAt';

export interface ZipEntry {
  /** Offset of the member's bytes in the file. */
  offset: number;
  size: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** The end record (22 bytes) plus the longest comment it may carry. */
const TAIL_BYTES = 22 + 0xffff;
const MAX_DIRECTORY_BYTES = 64 << 20;

function invalidZip(file: string, what: string): SaeDiffError {
  return new SaeDiffError(`Not a readable torch.save archive: ${what}`, {
    location: { file },
    hint: 'The file is truncated or damaged; download or save it again (torch.save writes a zip archive).',
  });
}

function u64(buf: Buffer, at: number, file: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidZip(file, `a size or offset of ${v} bytes`);
  return Number(v);
}

/** Every member of the archive by name, with where its stored bytes lie. */
export function readZipEntries(file: string): Map<string, ZipEntry> {
  const fd = openRegularFile(file);
  try {
    const size = fs.fstatSync(fd).size;
    const read = (position: number, length: number): Buffer => {
      if (position < 0 || position + length > size) throw invalidZip(file, `a record at byte ${position} runs past the end of the file`);
      const out = Buffer.allocUnsafe(length);
      readAt(fd, out, 0, length, position, file);
      return out;
    };
    const tailStart = Math.max(0, size - TAIL_BYTES);
    const tail = read(tailStart, size - tailStart);
    let end = -1;
    for (let i = tail.length - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === EOCD) {
        end = i;
        break;
      }
    if (end < 0) throw invalidZip(file, 'no end-of-central-directory record');
    let count = tail.readUInt16LE(end + 10);
    let dirSize = tail.readUInt32LE(end + 12);
    let dirOffset = tail.readUInt32LE(end + 16);
    if (end >= 20 && tail.readUInt32LE(end - 20) === ZIP64_LOCATOR) {
      const record = read(u64(tail, end - 20 + 8, file), 56);
      if (record.readUInt32LE(0) !== ZIP64_EOCD) throw invalidZip(file, 'the zip64 locator points at no zip64 end record');
      count = u64(record, 32, file);
      dirSize = u64(record, 40, file);
      dirOffset = u64(record, 48, file);
    }
    if (dirSize > MAX_DIRECTORY_BYTES) throw invalidZip(file, `a central directory of ${dirSize} bytes`);
    const dir = read(dirOffset, dirSize);
    const entries = new Map<string, ZipEntry>();
    for (let p = 0, i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw invalidZip(file, `central directory entry ${i} is damaged`);
      const flags = dir.readUInt16LE(p + 8);
      const method = dir.readUInt16LE(p + 10);
      let size32: number = dir.readUInt32LE(p + 24);
      const nameLen = dir.readUInt16LE(p + 28);
      const extraLen = dir.readUInt16LE(p + 30);
      const commentLen = dir.readUInt16LE(p + 32);
      let localOffset: number = dir.readUInt32LE(p + 42);
      const name = dir.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extended information (id 1): the 64-bit values of the fields saturated at 0xFFFFFFFF, in order
      const extra = dir.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      for (let e = 0; e + 4 <= extra.length;) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            const v = u64(extra, q, file);
            q += 8;
            return v;
          };
          const compressed32 = dir.readUInt32LE(p + 20);
          if (size32 === 0xffffffff) size32 = next();
          if (compressed32 === 0xffffffff) next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        e += 4 + len;
      }
      if (method !== 0 || flags & 1)
        throw new SaeDiffError(
          `The archive member ${name} is ${flags & 1 ? 'encrypted' : 'compressed'}; torch.save stores every member as it is`,
          {
            location: { file },
            hint: 'Load the file with torch.load and save it again with torch.save (or save the weights as safetensors).',
          },
        );
      const local = read(localOffset, 30);
      if (local.readUInt32LE(0) !== LOCAL) throw invalidZip(file, `the local header of ${name} is missing`);
      const offset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (offset + size32 > size) throw invalidZip(file, `${name} runs past the end of the file`);
      entries.set(name, { offset, size: size32 });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    fs.closeSync(fd);
  }
}
