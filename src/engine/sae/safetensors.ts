import * as fs from 'fs';
import { SaeDiffError } from '../core/errors';
import { openRegularFile } from '../io/boundedRead';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | string;

export interface SafetensorsEntry { dtype: SafetensorsDtype; shape: number[]; offsets: [number, number] }
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const BYTES_PER: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function bad(file: string, what: string): SaeDiffError {
  return new SaeDiffError(`Invalid safetensors file: ${what}`, { location: { file }, hint: 'The file is truncated or not safetensors; download or save it again.' });
}

/** Reads only the header (a few KB), validating it against the file size. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openRegularFile(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw bad(file, `the file has ${size} bytes, fewer than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (len > MAX_HEADER_BYTES || len + 8 > size) throw bad(file, `the header length ${len} is absurd for a file of ${size} bytes`);
    const headerBuf = Buffer.alloc(len);
    fs.readSync(fd, headerBuf, 0, len, 8);
    let json: Record<string, any>;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw bad(file, 'the header is not JSON');
    }
    const tensors = new Map<string, SafetensorsEntry>();
    const dataSize = size - 8 - len;
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const entry = v as SafetensorsEntry;
      if (!entry || !Array.isArray(entry.shape) || !Array.isArray((entry as any).data_offsets ?? entry.offsets)) throw bad(file, `tensor '${name}' has no shape or offsets`);
      const offsets = ((entry as any).data_offsets ?? entry.offsets) as [number, number];
      if (offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) throw bad(file, `tensor '${name}' has data_offsets [${offsets}]: not two non-negative integers`);
      if (!entry.shape.every((s: unknown) => Number.isSafeInteger(s) && (s as number) >= 0)) throw bad(file, `tensor '${name}' has shape [${entry.shape}]: not non-negative integers`);
      if (offsets[1] > dataSize || offsets[0] > offsets[1]) throw bad(file, `tensor '${name}' ends at byte ${offsets[1]} but the data section has ${dataSize} bytes (truncated file)`);
      const per = BYTES_PER[entry.dtype];
      const count = entry.shape.reduce((a: number, b: number) => a * b, 1);
      if (per !== undefined && count * per !== offsets[1] - offsets[0]) throw bad(file, `tensor '${name}' has ${offsets[1] - offsets[0]} bytes, not the ${count * per} its shape needs`);
      tensors.set(name, { dtype: entry.dtype, shape: entry.shape, offsets });
    }
    return { tensors, metadata: (json.__metadata__ ?? {}) as Record<string, string>, dataStart: 8 + len };
  } finally {
    fs.closeSync(fd);
  }
}

export function bf16ToF32(src: Uint16Array): Float32Array {
  const u = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return new Float32Array(u.buffer);
}

export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    out[i] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** Decodes raw little-endian bytes of a floating dtype into float32. */
export function toFloat32(bytes: Uint8Array, dtype: string, where: string): Float32Array {
  const aligned = new Uint8Array(bytes); // copy: guarantees alignment for the typed views
  switch (dtype) {
    case 'F32': case 'float32': case '<f4': return new Float32Array(aligned.buffer);
    case 'F16': case 'float16': case '<f2': return f16ToF32(new Uint16Array(aligned.buffer));
    case 'BF16': case 'bfloat16': return bf16ToF32(new Uint16Array(aligned.buffer));
    case 'F64': case 'float64': case '<f8': return Float32Array.from(new Float64Array(aligned.buffer));
    default: throw new SaeDiffError(`Unsupported tensor dtype ${dtype}`, { location: { file: where }, hint: 'Save the SAE weights as float32, float16 or bfloat16.' });
  }
}

export interface LoadedTensor { shape: number[]; data: Float32Array }

/** Reads the named tensors as float32 (float16 and bfloat16 are upcast exactly). */
export function readSafetensors(file: string, names?: string[]): Map<string, LoadedTensor> {
  const header = readSafetensorsHeader(file);
  const out = new Map<string, LoadedTensor>();
  const fd = openRegularFile(file);
  try {
    for (const [name, entry] of header.tensors) {
      if (names && !names.includes(name)) continue;
      const len = entry.offsets[1] - entry.offsets[0];
      const position = header.dataStart + entry.offsets[0];
      if (entry.dtype === 'F32') {
        // read straight into the float32 array: one copy of the weights, not two
        const data = new Float32Array(len / 4);
        fs.readSync(fd, new Uint8Array(data.buffer), 0, len, position);
        out.set(name, { shape: entry.shape, data });
        continue;
      }
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, position);
      out.set(name, { shape: entry.shape, data: toFloat32(buf, entry.dtype, file) });
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}
