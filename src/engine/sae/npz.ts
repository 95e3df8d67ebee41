import * as fs from 'fs';
import * as zlib from 'zlib';
import { SaeDiffError } from '../core/errors';
import { openRegularFile } from '../io/boundedRead';
import { LoadedTensor, toFloat32 } from './safetensors';

interface NpzEntry {
  name: string;
  method: number;
  compSize: number;
  size: number;
  dataStart: number;
}

/** Deflate cannot expand more than 1032:1; a larger claim is a damaged file or a zip bomb. */
const MAX_DEFLATE_RATIO = 1032;
const ITEM_BYTES: Record<string, number> = { '<f4': 4, '<f2': 2, '<f8': 8 };

function failer(file: string) {
  return (what: string) =>
    new SaeDiffError(`Invalid .npz file: ${what}`, {
      location: { file },
      hint: 'The file is damaged or not a NumPy .npz; save it again with numpy.savez.',
    });
}

/** Bounded reads of a file by position (validation reads only the zip directory and each array's header). */
interface FileReader {
  size: number;
  read(pos: number, len: number): Buffer;
}

function openReader(fd: number, file: string): FileReader {
  const size = fs.fstatSync(fd).size;
  return {
    size,
    read(pos, len) {
      if (pos < 0 || len < 0 || pos + len > size) throw failer(file)(`offset ${pos} is past the end of the file (${size} bytes)`);
      const b = Buffer.alloc(len);
      fs.readSync(fd, b, 0, len, pos);
      return b;
    },
  };
}

/** The zip directory of a NumPy .npz (a zip of .npy files, stored or deflated), every offset bounds-checked. */
function readDirectory(r: FileReader, file: string): NpzEntry[] {
  const fail = failer(file);
  const tailStart = Math.max(0, r.size - 65557);
  const tail = r.read(tailStart, r.size - tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--)
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw fail('no zip directory');
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12),
    cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset + cdSize > r.size) throw fail('the zip directory points past the end of the file');
  const cd = r.read(cdOffset, cdSize);
  const u16 = (at: number) => {
    if (at + 2 > cd.length) throw fail('corrupt zip directory');
    return cd.readUInt16LE(at);
  };
  const u32 = (at: number) => {
    if (at + 4 > cd.length) throw fail('corrupt zip directory');
    return cd.readUInt32LE(at);
  };
  let p = 0;
  const entries: NpzEntry[] = [];
  for (let e = 0; e < count; e++) {
    if (u32(p) !== 0x02014b50) throw fail('corrupt zip directory');
    const method = u16(p + 10);
    let compSize = u32(p + 20),
      size = u32(p + 24);
    const nameLen = u16(p + 28),
      extraLen = u16(p + 30),
      commentLen = u16(p + 32);
    let localOff = u32(p + 42);
    if (p + 46 + nameLen + extraLen > cd.length) throw fail('corrupt zip directory');
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64: sizes/offset in the extra field when the 32-bit fields are saturated
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let x = 0; x + 4 <= extra.length;) {
      const id = extra.readUInt16LE(x),
        len = extra.readUInt16LE(x + 2);
      if (id === 1) {
        let q = x + 4;
        const take = () => {
          if (q + 8 > extra.length) throw fail('corrupt zip64 field');
          const v = Number(extra.readBigUInt64LE(q));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compSize === 0xffffffff) compSize = take();
        if (localOff === 0xffffffff) localOff = take();
      }
      x += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (localOff + 30 > r.size) throw fail(`entry ${name} points at offset ${localOff}, past the end of the file`);
    const local = r.read(localOff, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw fail(`entry ${name} points at offset ${localOff}, where no zip entry starts`);
    const dataStart = localOff + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataStart + compSize > r.size) throw fail(`entry ${name} ends past the end of the file (truncated)`);
    if (method !== 0 && method !== 8) throw fail(`entry ${name} uses unsupported compression ${method}`);
    if (method === 8 && size > compSize * MAX_DEFLATE_RATIO + 1024)
      throw fail(`entry ${name} claims ${size} bytes from ${compSize} compressed, more than deflate can produce`);
    entries.push({ name, method, compSize, size, dataStart });
  }
  return entries;
}

interface NpyHeader {
  shape: number[];
  dtype: string;
  dataOffset: number;
  fortran: boolean;
}

function parseNpyHeader(data: Buffer, where: string): NpyHeader {
  const fail = (what: string) =>
    new SaeDiffError(`Invalid .npy array: ${what}`, { location: { file: where }, hint: 'Save it again with numpy.savez.' });
  if (data.length < 10 || data.readUInt32BE(0) !== 0x934e554d) throw fail('no .npy magic');
  const major = data[6];
  const headerStart = major === 1 ? 10 : 12;
  if (data.length < headerStart) throw fail('truncated header');
  const headerLen = major === 1 ? data.readUInt16LE(8) : data.readUInt32LE(8);
  if (headerStart + headerLen > data.length) throw fail('truncated header');
  const header = data.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!descr || shape.some((s) => !Number.isInteger(s) || s < 0)) throw fail('cannot read the header');
  return { shape, dtype: descr.replace('|', '<'), dataOffset: headerStart + headerLen, fortran };
}

/** The first bytes of an entry (enough for its .npy header), inflating only a prefix of deflated data. */
function entryPrefix(r: FileReader, e: NpzEntry): Buffer {
  const raw = r.read(e.dataStart, Math.min(e.compSize, e.method === 0 ? 65536 : 4096));
  if (e.method === 0) return raw;
  // 4 KiB of deflate holds any .npy header and inflates to at most ~4 MiB (deflate's 1032:1 bound)
  return zlib.inflateRawSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 8 << 20 });
}

function withReader<T>(file: string, body: (r: FileReader) => T): T {
  const fd = openRegularFile(file);
  try {
    return body(openReader(fd, file));
  } finally {
    fs.closeSync(fd);
  }
}

/** Array names and shapes only (validation: no array data is read or inflated). */
export function readNpzHeaders(file: string): Map<string, { shape: number[]; dtype: string }> {
  return withReader(file, (r) => {
    const out = new Map<string, { shape: number[]; dtype: string }>();
    for (const e of readDirectory(r, file)) {
      let prefix: Buffer;
      try {
        prefix = entryPrefix(r, e);
      } catch (err) {
        throw failer(file)(`entry ${e.name} does not inflate (${(err as Error).message})`);
      }
      const h = parseNpyHeader(prefix, `${file}:${e.name}`);
      out.set(e.name.replace(/\.npy$/, ''), { shape: h.shape, dtype: h.dtype });
    }
    return out;
  });
}

/** Reads float arrays from a NumPy .npz; inflated output is capped at the size the array's header needs. */
export function readNpz(file: string): Map<string, LoadedTensor> {
  return withReader(file, (r) => readEntries(r, file));
}

function readEntries(r: FileReader, file: string): Map<string, LoadedTensor> {
  const fail = failer(file);
  const out = new Map<string, LoadedTensor>();
  for (const e of readDirectory(r, file)) {
    const where = `${file}:${e.name}`;
    let data: Buffer;
    try {
      const h = parseNpyHeader(entryPrefix(r, e), where);
      const per = ITEM_BYTES[h.dtype] ?? 8;
      const need = h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * per;
      const raw = r.read(e.dataStart, e.compSize);
      data = e.method === 0 ? raw : zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, Math.min(need, e.size || need)) });
    } catch (err) {
      if (err instanceof SaeDiffError) throw err;
      throw fail(`entry ${e.name} does not inflate within the size its header declares (${(err as Error).message})`);
    }
    const h = parseNpyHeader(data, where);
    if (h.fortran && h.shape.length > 1)
      throw new SaeDiffError('Fortran-ordered arrays are not supported', {
        location: { file: where },
        hint: 'Save with numpy.ascontiguousarray.',
      });
    const count = h.shape.reduce((a, b) => a * b, 1);
    const body = data.subarray(h.dataOffset);
    const per = ITEM_BYTES[h.dtype];
    if (per !== undefined && body.length !== count * per)
      throw fail(`entry ${e.name} holds ${body.length} bytes, not the ${count * per} its shape [${h.shape}] needs`);
    out.set(e.name.replace(/\.npy$/, ''), { shape: h.shape, data: toFloat32(body, h.dtype, where) });
  }
  return out;
}
