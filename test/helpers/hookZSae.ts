/** SAELens SAEs of TransformerLens's attn.hook_z for the attn_z tests, with random directions. */
import { SeededRandom } from '../../src/engine/core/seededRandom';
import { writeSaeLensSae } from './saeLensSae';

/** A SAELens SAE of attn.hook_z at `layer` (ReLU, random directions): what SAELens writes for a hook_z SAE. */
export function hookZSae(folder: string, layer: number, dIn: number, dSae: number, extra: Record<string, unknown> = {}): string {
  const random = new SeededRandom(layer + 1);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
  const dec = Float32Array.from({ length: dSae * dIn }, () => gaussian() / Math.sqrt(dIn));
  const enc = new Float32Array(dIn * dSae);
  for (let f = 0; f < dSae; f++) for (let i = 0; i < dIn; i++) enc[i * dSae + f] = dec[f * dIn + i];
  return writeSaeLensSae(
    folder,
    { enc, dec, dIn, dSae },
    {
      architecture: 'standard',
      hook_name: `blocks.${layer}.attn.hook_z`,
      hook_layer: layer,
      hook_head_index: null,
      activation_fn_str: 'relu',
      apply_b_dec_to_input: false,
      normalize_activations: 'none',
      reshape_activations: 'hook_z',
      ...extra,
    },
  );
}
