import type { SaeArchitecture, SaeInfo } from './types';

/**
 * One entry per SAE architecture (SAELens `register_sae_class`): the tensors its weights need, and what
 * the architecture guarantees for the self-check. The encoder graph of each lives in saeGraph.ts
 * (addEncoder), keyed by the same names.
 */
export interface ArchitectureEntry {
  name: SaeArchitecture;
  /** SAELens tensor names the weights file must hold (any one of each group). */
  tensors: string[][];
  /** The most latents that can fire on one token, when the architecture bounds it (TopK: exactly k). */
  maxL0?(info: SaeInfo): number | undefined;
}

export const ARCHITECTURES: Record<SaeArchitecture, ArchitectureEntry> = {
  standard: { name: 'standard', tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec']] },
  // sae_lens/saes/jumprelu_sae.py: z = pre * (pre > threshold); older saves hold log_threshold
  jumprelu: { name: 'jumprelu', tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec'], ['threshold', 'log_threshold']] },
  // sae_lens/saes/topk_sae.py: relu of the k largest pre-activations: L0 <= k on every token
  topk: { name: 'topk', tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec']], maxL0: (info) => info.kSae },
  // sae_lens/saes/gated_sae.py: gate W_enc + b_gate, magnitude W_enc * exp(r_mag) + b_mag
  gated: { name: 'gated', tensors: [['W_enc'], ['b_gate'], ['r_mag'], ['b_mag'], ['W_dec'], ['b_dec']] },
};

export function isArchitecture(name: string): name is SaeArchitecture {
  return Object.prototype.hasOwnProperty.call(ARCHITECTURES, name);
}
