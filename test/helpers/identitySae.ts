import type { SaeWeights } from '../../src/engine/sae/loadSae';

/** An SAE whose codes are its inputs: d = m, W_enc = I, no biases, ReLU; the decoder is I too. */
export function identitySae(m: number): SaeWeights {
  const eye = new Float32Array(m * m);
  for (let i = 0; i < m; i++) eye[i * m + i] = 1;
  return {
    folder: 'identity',
    format: 'saelens',
    architecture: 'standard',
    dIn: m,
    dSae: m,
    dtype: 'float32',
    W_enc: eye,
    b_enc: new Float32Array(m),
    W_dec: eye.slice(),
    b_dec: new Float32Array(m),
    applyBDecToInput: false,
    normalization: 'none',
  } as unknown as SaeWeights;
}
