import * as fs from 'fs';

/** Writes float32 tensors as a safetensors file (for SAE layouts the fixtures do not ship). */
export function writeSafetensors(file: string, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(
    file,
    Buffer.concat([len, json, ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]),
  );
}

/** Tensors as a checkpoint stores them: each in its own dtype's bytes (F32, F16 or BF16). */
export type RawTensors = Record<string, { dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; bytes: Uint8Array }>;

/** Writes tensors of any stored dtype as one safetensors file. */
export function writeRawSafetensors(file: string, tensors: RawTensors): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...Object.values(tensors).map((t) => Buffer.from(t.bytes))]));
}

/** float32 -> bfloat16 bits, round to nearest even (what torch's .to(torch.bfloat16) does). */
export function toBf16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(u, (x) => (x + 0x7fff + ((x >> 16) & 1)) >>> 16);
}

/** bfloat16 bits -> float32. */
export function fromBf16(bits: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}
