/** SAELens SAEs of TransformerLens's attn.hook_z for the attn_z tests, with random directions. */
import * as fs from 'fs';
import * as path from 'path';
import { SeededRandom } from '../../src/engine/core/seededRandom';
import { writeSafetensors } from './safetensors';

/** A SAELens SAE of attn.hook_z at `layer` (ReLU, random directions): what SAELens writes for a hook_z SAE. */
export function hookZSae(folder: string, layer: number, dIn: number, dSae: number, extra: Record<string, unknown> = {}): string {
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true });
  const random = new SeededRandom(layer + 1);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
  const dec = Float32Array.from({ length: dSae * dIn }, () => gaussian() / Math.sqrt(dIn));
  const enc = new Float32Array(dIn * dSae);
  for (let f = 0; f < dSae; f++) for (let i = 0; i < dIn; i++) enc[i * dSae + f] = dec[f * dIn + i];
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
    W_enc: { shape: [dIn, dSae], data: enc },
    b_enc: { shape: [dSae], data: new Float32Array(dSae) },
    W_dec: { shape: [dSae, dIn], data: dec },
    b_dec: { shape: [dIn], data: new Float32Array(dIn) },
  });
  const cfg = {
    architecture: 'standard',
    d_in: dIn,
    d_sae: dSae,
    dtype: 'float32',
    hook_name: `blocks.${layer}.attn.hook_z`,
    hook_layer: layer,
    hook_head_index: null,
    activation_fn_str: 'relu',
    apply_b_dec_to_input: false,
    normalize_activations: 'none',
    reshape_activations: 'hook_z',
    ...extra,
  };
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(cfg));
  return folder;
}
