import { SaeDiffError } from '../core/errors';
import type { LoadedTensor } from './safetensors';

/** A tensor of exactly this shape (not only this element count), with finite values only. */
export function need(t: Map<string, LoadedTensor>, name: string, file: string, shape: number[]): Float32Array {
  const v = t.get(name);
  if (!v) throw new SaeDiffError(`Missing tensor '${name}'`, { location: { file }, hint: 'The SAE weights file is incomplete.' });
  if (v.shape.length !== shape.length || v.shape.some((s, i) => s !== shape[i])) {
    throw new SaeDiffError(`Tensor '${name}' has shape [${v.shape}], expected [${shape}]`, {
      location: { file },
      hint: 'The weights do not match the SAE config (a transposed or foreign tensor would give wrong numbers).',
    });
  }
  assertFinite(v.data, name, file);
  return v.data;
}

/**
 * The four tensors of SAELens' layout, as stored: W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec
 * [d_in] (each checked by `need`; with latents picked, `m` is still the stored d_sae).
 */
export function saeLensTensors(
  t: Map<string, LoadedTensor>,
  file: string,
  d: number,
  m: number,
): { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array; b_dec: Float32Array } {
  return {
    W_enc: need(t, 'W_enc', file, [d, m]),
    b_enc: need(t, 'b_enc', file, [m]),
    W_dec: need(t, 'W_dec', file, [m, d]),
    b_dec: need(t, 'b_dec', file, [d]),
  };
}

export function assertFinite(data: Float32Array, name: string, file: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new SaeDiffError(`Tensor '${name}' holds ${Number.isNaN(data[i]) ? 'NaN' : 'an infinite value'} (element ${i})`, {
        location: { file },
        hint: 'The SAE weights are corrupt (a diverged training run or a bad conversion); re-save them.',
      });
    }
  }
}

export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** Multiplies row i of a [rows, cols] matrix by scale[i], in place. */
export function scaleRows(m: Float32Array, scale: Float32Array, cols: number): void {
  for (let r = 0; r < scale.length; r++) for (let c = 0; c < cols; c++) m[r * cols + c] *= scale[r];
}

/** Multiplies column j of a [rows, cols] matrix by scale[j], in place. */
export function scaleColumns(m: Float32Array, scale: Float32Array, cols: number): void {
  for (let i = 0; i < m.length; i++) m[i] *= scale[i % cols];
}

/**
 * The latents `ids` of a [rows] or [rows, cols] tensor held in memory, along `axis` (0: rows, 1: columns), in
 * the order of `ids`: what sae/safetensors.ts reads from a file with a LatentPick, for formats read whole.
 */
export function pickLatents(data: Float32Array, shape: readonly number[], axis: 0 | 1, ids: readonly number[]): Float32Array {
  const rows = shape[0],
    cols = shape.length > 1 ? shape[1] : 1;
  const count = axis === 0 ? rows : cols;
  const outOfRange = ids.find((f) => !Number.isInteger(f) || f < 0 || f >= count);
  if (outOfRange !== undefined) throw new Error(`pickLatents: latent ${outOfRange} is not among the ${count} of a [${shape}] tensor`);
  const n = ids.length;
  if (axis === 0) {
    const out = new Float32Array(n * cols);
    ids.forEach((f, j) => out.set(data.subarray(f * cols, (f + 1) * cols), j * cols));
    return out;
  }
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) out[r * n + j] = data[r * cols + ids[j]];
  return out;
}

/**
 * W_dec's rows (the decoder's columns) scaled to unit norm, W_enc's columns and b_enc times the norms: the latents of
 * unit decoder directions, which dictionary_learning's AutoEncoder.from_pretrained (normalize_decoder) and
 * Language-Model-SAEs' transform_to_unit_decoder_norm load. A zero direction cannot be normalised: refused with
 * `hint`, named by its id in `ids` (the latents read) or its place.
 */
export function unitDecoder(
  t: { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array },
  width: number,
  d: number,
  file: string,
  hint: string,
  ids?: readonly number[],
): { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array } {
  const norms = new Float32Array(width);
  for (let f = 0; f < width; f++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += t.W_dec[f * d + j] ** 2;
    norms[f] = Math.sqrt(s);
  }
  const zero = norms.findIndex((n) => n === 0);
  if (zero >= 0) throw new SaeDiffError(`Decoder direction ${ids?.[zero] ?? zero} is zero`, { location: { file }, hint });
  return {
    W_enc: t.W_enc.map((x, i) => x * norms[i % width]),
    b_enc: t.b_enc.map((b, f) => b * norms[f]),
    W_dec: t.W_dec.map((x, i) => x / norms[Math.floor(i / d)]),
  };
}
