import type { GraphOps } from './graphBuilder';
import { addTopKMembership } from './topKMembership';
import type { SaeArchitecture, SaeInfo } from './types';

/**
 * One entry per SAE architecture (SAELens `register_sae_class`): the tensors its weights need, its
 * activation as ONNX nodes (docs/metrics.md's f(x); the decoder z W_dec + b_dec is shared), and what the
 * architecture guarantees for the self-check. saeGraph.ts's addEncoder calls `activation`; the
 * initializers it reads (threshold, k_sae, W_mag, b_mag, zero) are added by saeGraph.ts's addWeights.
 */
export interface ArchitectureEntry {
  name: SaeArchitecture;
  /** SAELens tensor names the weights file must hold (any one of each group). */
  tensors: string[][];
  /** The most latents that can fire on one token, when the architecture bounds it (TopK: exactly k). */
  maxL0?(info: SaeInfo): number | undefined;
  /** z from the pre-activation `pre` = x W_enc + b_enc [n, width] (x: the encoder's input), written to `out`. */
  activation(g: GraphOps, pre: string, x: string, out: string, width: number): string;
  /** Each latent depends on its own encoder column alone (not TopK), so a subset of latents can be encoded exactly. */
  featureWise: boolean;
}

export const ARCHITECTURES: Record<SaeArchitecture, ArchitectureEntry> = {
  standard: {
    name: 'standard',
    tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec']],
    activation: (g, pre, _x, out) => g.one('Relu', [pre], [], out),
    featureWise: true,
  },
  // sae_lens/saes/jumprelu_sae.py: z = pre * (pre > threshold); older saves hold log_threshold
  jumprelu: {
    name: 'jumprelu',
    tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec'], ['threshold', 'log_threshold']],
    activation: (g, pre, _x, out) => g.one('Where', [g.one('Greater', [pre, 'threshold']), pre, 'zero'], [], out),
    featureWise: true,
  },
  // sae_lens/saes/topk_sae.py: relu of the k largest pre-activations: L0 <= k on every token
  topk: {
    name: 'topk',
    tensors: [['W_enc'], ['b_enc'], ['W_dec'], ['b_dec']],
    maxL0: (info) => info.kSae,
    // relu of the k_sae largest pre-activations: pre where it is among them and above 0, else 0 (the
    // top-k set as a mask, in blocks above 2048 latents: WebGPU sorts whole rows, sae/topKMembership.ts)
    activation: (g, pre, _x, out, width) => g.one('Mul', [pre, addTopKMembership(g, pre, 'k_sae', width, out)], [], out),
    featureWise: false,
  },
  // sae_lens/saes/gated_sae.py: gate W_enc + b_gate, magnitude W_enc * exp(r_mag) + b_mag
  gated: {
    name: 'gated',
    tensors: [['W_enc'], ['b_gate'], ['r_mag'], ['b_mag'], ['W_dec'], ['b_dec']],
    // the gate (pre > 0, with b_gate as b_enc) selects the magnitude path's relu
    activation: (g, pre, x, out) =>
      g.one('Where', [g.one('Greater', [pre, 'zero']), g.one('Relu', [g.linear(x, 'W_mag', 'b_mag')]), 'zero'], [], out),
    featureWise: true,
  },
};

export function isArchitecture(name: string): name is SaeArchitecture {
  return Object.prototype.hasOwnProperty.call(ARCHITECTURES, name);
}
