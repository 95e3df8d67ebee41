import * as fs from 'fs';
import { SaeDiffError } from '../core/errors';
import { openRegularFile } from '../io/boundedRead';
import { readRange } from '../io/readAt';
import { invalidSafetensors, readSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader } from '../io/safetensorsHeader';
import type { LatentPick } from './types';

export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return out;
}

let halfTable: Float32Array | undefined;

/** Every float16 bit pattern's exact float32 value (IEEE 754 binary16: subnormals, infinities, NaN). */
function halves(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    halfTable[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return halfTable;
}

/** float16 -> float32 by table look-up: one load per element (the arithmetic per element took ~20 s for 268M halves). */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = halves();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

const ITEM_BYTES: Record<string, number> = {
  F32: 4,
  float32: 4,
  '<f4': 4,
  F16: 2,
  float16: 2,
  '<f2': 2,
  BF16: 2,
  bfloat16: 2,
  F64: 8,
  float64: 8,
  '<f8': 8,
};

function unsupported(dtype: string, where: string): SaeDiffError {
  return new SaeDiffError(`Unsupported tensor dtype ${dtype}`, {
    location: { file: where },
    hint: 'Save the SAE weights as float32, float16 or bfloat16.',
  });
}

/** Decodes little-endian values of a floating dtype into out (bytes must start at a multiple of the item size). */
function decodeInto(bytes: Uint8Array, dtype: string, out: Float32Array): void {
  const n = out.length;
  switch (dtype) {
    case 'F32':
    case 'float32':
    case '<f4':
      out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
      return;
    case 'F16':
    case 'float16':
    case '<f2':
      f16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n), out);
      return;
    case 'BF16':
    case 'bfloat16':
      bf16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n), out);
      return;
    case 'F64':
    case 'float64':
    case '<f8': {
      const src = new Float64Array(bytes.buffer, bytes.byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = src[i];
      return;
    }
  }
}

/** Decodes raw little-endian bytes of a floating dtype into float32. */
export function toFloat32(bytes: Uint8Array, dtype: string, where: string): Float32Array {
  const per = ITEM_BYTES[dtype];
  if (per === undefined) throw unsupported(dtype, where);
  // typed views need an aligned offset: copy only when the bytes are not aligned
  const aligned = bytes.byteOffset % per === 0 ? bytes : new Uint8Array(bytes);
  const out = new Float32Array(Math.floor(bytes.length / per));
  decodeInto(aligned, dtype, out);
  return out;
}

/** Bytes converted per read: the only temporary a half-precision tensor needs besides its float32 result. */
const CHUNK_BYTES = 16 << 20;

/**
 * Reads `len` bytes at `position` of fd as float32 values of `dtype`, in bounded chunks: float32 straight
 * into the result (one copy of the weights, and no 2 GB limit of a single read), others through one
 * CHUNK_BYTES buffer, so the file's bytes are never held whole beside the float32 copy.
 */
function readFloat32(fd: number, position: number, len: number, dtype: string, file: string): Float32Array {
  const per = ITEM_BYTES[dtype];
  if (per === undefined) throw unsupported(dtype, file);
  const out = new Float32Array(len / per);
  const direct = per === 4;
  const target = direct ? new Uint8Array(out.buffer) : Buffer.allocUnsafe(Math.min(len, CHUNK_BYTES - (CHUNK_BYTES % per)));
  for (let done = 0; done < len;) {
    const want = direct ? Math.min(len - done, 1 << 30) : Math.min(len - done, target.length);
    const got = fs.readSync(fd, target, direct ? done : 0, want, position + done);
    if (got !== want) throw invalidSafetensors(file, `the file ended ${len - done - got} bytes before its tensor data`);
    if (!direct) decodeInto(target.subarray(0, want), dtype, out.subarray(done / per, (done + want) / per));
    done += want;
  }
  return out;
}

export interface LoadedTensor {
  /** The tensor's shape in the file. */
  shape: number[];
  /** Its values; read with a LatentPick, only the picked latents' (sae/weights.ts's pickLatents layout). */
  data: Float32Array;
}

/**
 * Reads the named tensors as float32 (float16 and bfloat16 are upcast exactly). With `pick`, a tensor with a
 * latent axis keeps only the picked latents, and only their bytes are decoded: rows are read one by one, columns
 * from bounded runs of whole rows (the feature details of a 65,536-wide float16 SAE decode a few hundred latents
 * instead of 268 million values).
 */
export function readSafetensors(file: string, names?: string[], pick?: LatentPick): Map<string, LoadedTensor> {
  return readTensors(file, readSafetensorsHeader(file), names, pick);
}

/**
 * readSafetensors over any index of the file's tensors: a safetensors header, or the state dict of a torch.save
 * archive (io/torchCheckpoint.ts's stateDictIndex, whose offsets are absolute).
 */
export function readTensors(file: string, header: SafetensorsHeader, names?: string[], pick?: LatentPick): Map<string, LoadedTensor> {
  const out = new Map<string, LoadedTensor>();
  const fd = openRegularFile(file);
  try {
    for (const [name, entry] of header.tensors) {
      if (names && !names.includes(name)) continue;
      const start = header.dataStart + entry.offsets[0];
      const len = entry.offsets[1] - entry.offsets[0];
      const axis = pick?.axisOf(name);
      const data =
        pick && axis !== undefined
          ? readLatents(fd, start, entry, axis, pick.ids, `${file} (${name})`)
          : readFloat32(fd, start, len, entry.dtype, file);
      out.set(name, { shape: entry.shape, data });
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** The latents `ids` of a [rows] or [rows, cols] tensor at `start` of fd, along `axis`, as pickLatents lays them out. */
function readLatents(fd: number, start: number, entry: SafetensorsEntry, axis: 0 | 1, ids: readonly number[], where: string): Float32Array {
  const per = ITEM_BYTES[entry.dtype];
  if (per === undefined) throw unsupported(entry.dtype, where);
  if (entry.shape.length < 1 || entry.shape.length > 2 || (axis === 1 && entry.shape.length !== 2))
    throw invalidSafetensors(where, `a tensor of shape [${entry.shape}] has no latent axis ${axis}`);
  const rows = entry.shape[0],
    cols = entry.shape.length > 1 ? entry.shape[1] : 1;
  const count = axis === 0 ? rows : cols;
  const outOfRange = ids.find((f) => !Number.isInteger(f) || f < 0 || f >= count);
  if (outOfRange !== undefined) throw invalidSafetensors(where, `latent ${outOfRange} is past its ${count} latents`);
  const n = ids.length;
  if (axis === 0) {
    const out = new Float32Array(n * cols);
    ids.forEach((f, j) => out.set(readFloat32(fd, start + f * cols * per, cols * per, entry.dtype, where), j * cols));
    return out;
  }
  // columns: runs of whole rows, each row's picked values copied together, then decoded at once
  const rowBytes = cols * per;
  const runRows = Math.max(1, Math.min(rows, Math.floor(CHUNK_BYTES / rowBytes)));
  const run = Buffer.allocUnsafe(runRows * rowBytes);
  const picked = new Uint8Array(runRows * n * per);
  const out = new Float32Array(rows * n);
  for (let r0 = 0; r0 < rows; r0 += runRows) {
    const k = Math.min(runRows, rows - r0);
    const got = fs.readSync(fd, run, 0, k * rowBytes, start + r0 * rowBytes);
    if (got !== k * rowBytes) throw invalidSafetensors(where, `the file ended ${k * rowBytes - got} bytes before its tensor data`);
    let o = 0;
    for (let r = 0; r < k; r++)
      for (let j = 0; j < n; j++) for (let b = 0, i = r * rowBytes + ids[j] * per; b < per; b++) picked[o++] = run[i + b];
    decodeInto(picked.subarray(0, k * n * per), entry.dtype, out.subarray(r0 * n, (r0 + k) * n));
  }
  return out;
}

/** The value of a one-element tensor of the index (a buffer such as a TopK SAE's k or a BatchTopK threshold). */
export function readScalar(file: string, entry: SafetensorsEntry, name: string): number {
  const [start, end] = entry.offsets;
  if (entry.shape.reduce((a, b) => a * b, 1) !== 1 || end <= start)
    throw new SaeDiffError(`Tensor '${name}' has shape [${entry.shape}], expected one value`, {
      location: { file },
      hint: 'The weights do not match their config; save the SAE again.',
    });
  const b = readRange(file, start, end - start);
  switch (entry.dtype) {
    case 'I64':
      return Number(b.readBigInt64LE(0));
    case 'I32':
      return b.readInt32LE(0);
    case 'I16':
      return b.readInt16LE(0);
    case 'I8':
      return b.readInt8(0);
    case 'U8':
    case 'BOOL':
      return b[0];
    default:
      return toFloat32(b, entry.dtype, file)[0];
  }
}
