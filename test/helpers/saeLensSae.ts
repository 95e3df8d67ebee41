/** SAELens SAE folders written for tests: sae_weights.safetensors (zero biases) and cfg.json, as SAELens saves them. */
import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors } from './safetensors';

/** A SAELens SAE in `folder` with encoder [dIn, dSae] and decoder [dSae, dIn], zero biases, and the cfg.json `cfg`. */
export function writeSaeLensSae(
  folder: string,
  weights: { enc: Float32Array; dec: Float32Array; dIn: number; dSae: number },
  cfg: Record<string, unknown>,
): string {
  const { enc, dec, dIn, dSae } = weights;
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true });
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
    W_enc: { shape: [dIn, dSae], data: enc },
    b_enc: { shape: [dSae], data: new Float32Array(dSae) },
    W_dec: { shape: [dSae, dIn], data: dec },
    b_dec: { shape: [dIn], data: new Float32Array(dIn) },
  });
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify({ d_in: dIn, d_sae: dSae, dtype: 'float32', ...cfg }));
  return folder;
}
