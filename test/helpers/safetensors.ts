import { type TensorToWrite, writeSafetensors as writeSafetensorsFile } from '../../bench/workload/safetensorsWriter';

/** Writes float32 tensors as a safetensors file (for SAE layouts the fixtures do not ship). */
export function writeSafetensors(file: string, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
  const raw: RawTensors = {};
  for (const [name, t] of Object.entries(tensors))
    raw[name] = { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  writeRawSafetensors(file, raw);
}

/** Tensors as a checkpoint stores them: each in its own dtype's bytes (F32, F16 or BF16). */
export type RawTensors = Record<string, { dtype: TensorToWrite['dtype']; shape: number[]; bytes: Uint8Array }>;

/** Writes tensors of any stored dtype as one safetensors file (the bench workload's writer). */
export function writeRawSafetensors(file: string, tensors: RawTensors): void {
  writeSafetensorsFile(
    file,
    Object.entries(tensors).map(([name, t]) => ({ name, ...t })),
  );
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
