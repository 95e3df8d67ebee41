/**
 * safetensors headers (huggingface/safetensors' format: an 8-byte little-endian header length, a JSON header
 * of dtype / shape / data_offsets per tensor, then the data), read and checked against the file's size. The
 * SAE loaders and the checkpoint graph builder (model/checkpoint) read tensors from them.
 */
import * as fs from 'fs';
import { SaeDiffError } from '../core/errors';
import { openRegularFile } from './boundedRead';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | string;

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  offsets: [number, number];
}
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const BYTES_PER: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export function invalidSafetensors(file: string, what: string): SaeDiffError {
  return new SaeDiffError(`Invalid safetensors file: ${what}`, {
    location: { file },
    hint: 'The file is truncated or not safetensors; download or save it again.',
  });
}

/** Reads only the header (a few KB), validating it against the file size. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openRegularFile(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw invalidSafetensors(file, `the file has ${size} bytes, fewer than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (len > MAX_HEADER_BYTES || len + 8 > size)
      throw invalidSafetensors(file, `the header length ${len} is absurd for a file of ${size} bytes`);
    const headerBuf = Buffer.alloc(len);
    fs.readSync(fd, headerBuf, 0, len, 8);
    let json: Record<string, any>;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw invalidSafetensors(file, 'the header is not JSON');
    }
    const tensors = new Map<string, SafetensorsEntry>();
    const dataSize = size - 8 - len;
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const entry = v as SafetensorsEntry;
      if (!entry || !Array.isArray(entry.shape) || !Array.isArray((entry as any).data_offsets ?? entry.offsets))
        throw invalidSafetensors(file, `tensor '${name}' has no shape or offsets`);
      const offsets = ((entry as any).data_offsets ?? entry.offsets) as [number, number];
      if (offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
        throw invalidSafetensors(file, `tensor '${name}' has data_offsets [${offsets}]: not two non-negative integers`);
      if (!entry.shape.every((s: unknown) => Number.isSafeInteger(s) && (s as number) >= 0))
        throw invalidSafetensors(file, `tensor '${name}' has shape [${entry.shape}]: not non-negative integers`);
      if (offsets[1] > dataSize || offsets[0] > offsets[1])
        throw invalidSafetensors(
          file,
          `tensor '${name}' ends at byte ${offsets[1]} but the data section has ${dataSize} bytes (truncated file)`,
        );
      const per = BYTES_PER[entry.dtype];
      const count = entry.shape.reduce((a: number, b: number) => a * b, 1);
      if (per !== undefined && count * per !== offsets[1] - offsets[0])
        throw invalidSafetensors(file, `tensor '${name}' has ${offsets[1] - offsets[0]} bytes, not the ${count * per} its shape needs`);
      tensors.set(name, { dtype: entry.dtype, shape: entry.shape, offsets });
    }
    return { tensors, metadata: (json.__metadata__ ?? {}) as Record<string, string>, dataStart: 8 + len };
  } finally {
    fs.closeSync(fd);
  }
}
