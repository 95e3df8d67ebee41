import type { LoadedTensor } from '../safetensors';
import { need, transpose } from '../weights';

/**
 * An nn.Linear encoder (weight [F, d]) and decoder (weight [d, F]) in SAELens layout: W_enc [d, width], W_dec
 * [width, d]. `t` holds them as read, whole or picked along their latent axis (rows of the encoder, columns of
 * the decoder); `width` is the number of latents read.
 */
export function linearWeights(
  t: Map<string, LoadedTensor>,
  file: string,
  names: { encoder: string; decoder: string },
  d: number,
  m: number,
  width: number,
): { W_enc: Float32Array; W_dec: Float32Array } {
  return {
    W_enc: transpose(need(t, names.encoder, file, [m, d]), width, d),
    W_dec: transpose(need(t, names.decoder, file, [d, m]), d, width),
  };
}
