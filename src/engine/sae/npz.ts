import * as fs from 'fs';
import * as zlib from 'zlib';
import { SaeDiffError } from '../errors';
import { LoadedTensor, toFloat32 } from './safetensors';

/** Reads float arrays from a NumPy .npz (a zip of .npy files, stored or deflated). */
export function readNpz(file: string): Map<string, LoadedTensor> {
  const buf = fs.readFileSync(file);
  const fail = (what: string) => new SaeDiffError(`Invalid .npz file: ${what}`, { location: { file }, hint: 'Save it again with numpy.savez.' });
  // End of central directory: signature 0x06054b50 within the last 64 KiB
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw fail('no zip directory');
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, LoadedTensor>();
  for (let e = 0; e < entries; e++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw fail('corrupt zip directory');
    const method = buf.readUInt16LE(p + 10);
    let compSize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    let localOff = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64: sizes/offset in the extra field when the 32-bit fields are saturated
    const extra = buf.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let x = 0; x + 4 <= extra.length;) {
      const id = extra.readUInt16LE(x), size = extra.readUInt16LE(x + 2);
      if (id === 1) {
        let q = x + 4;
        if (buf.readUInt32LE(p + 24) === 0xffffffff) q += 8;
        if (compSize === 0xffffffff) { compSize = Number(extra.readBigUInt64LE(q)); q += 8; }
        if (localOff === 0xffffffff) localOff = Number(extra.readBigUInt64LE(q));
      }
      x += 4 + size;
    }
    p += 46 + nameLen + extraLen + commentLen;
    const lNameLen = buf.readUInt16LE(localOff + 26), lExtraLen = buf.readUInt16LE(localOff + 28);
    const start = localOff + 30 + lNameLen + lExtraLen;
    const raw = buf.subarray(start, start + compSize);
    const data = method === 0 ? raw : method === 8 ? zlib.inflateRawSync(raw) : undefined;
    if (!data) throw fail(`entry ${name} uses unsupported compression ${method}`);
    out.set(name.replace(/\.npy$/, ''), parseNpy(data, `${file}:${name}`));
  }
  return out;
}

function parseNpy(data: Buffer, where: string): LoadedTensor {
  if (data.readUInt32BE(0) !== 0x934e554d) throw new SaeDiffError('Not a .npy array', { location: { file: where } });
  const major = data[6];
  const headerLen = major === 1 ? data.readUInt16LE(8) : data.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = data.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr) throw new SaeDiffError('Cannot read the .npy header', { location: { file: where } });
  if (fortran && shape.length > 1) throw new SaeDiffError('Fortran-ordered arrays are not supported', { location: { file: where }, hint: 'Save with numpy.ascontiguousarray.' });
  const dtype = descr.replace('|', '<');
  return { shape, data: toFloat32(data.subarray(headerStart + headerLen), dtype, where) };
}
