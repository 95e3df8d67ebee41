/**
 * RoPE inverse frequencies as transformers computes them (modeling_rope_utils.py: `_compute_default_rope_parameters`,
 * `_compute_linear_scaling_rope_parameters`, `_compute_llama3_parameters`, `_compute_longrope_parameters`), in float32 like its torch tensors:
 * every step is rounded to float32 (Math.fround) so the angles match the buffer a PyTorch run uses.
 */

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { type: 'longrope'; shortFactor: number[]; longFactor: number[]; originalMaxPositions: number; attentionFactor: number };

const f = Math.fround;

/**
 * inv_freq [dim / 2] for rotary dimension `dim` and base `theta`; of a longrope scaling, the table of its short
 * factors, or of its long ones with `long` (`_compute_longrope_parameters`: 1 / (factors · base^(2i/dim))).
 */
export function ropeInverseFrequencies(dim: number, theta: number, scaling: RopeScaling, long = false): Float32Array {
  const half = dim / 2;
  const inv = new Float32Array(half);
  const base = f(theta);
  if (scaling.type === 'longrope') {
    const factors = long ? scaling.longFactor : scaling.shortFactor;
    for (let i = 0; i < half; i++) inv[i] = f(1 / f(f(factors[i]) * f(Math.pow(base, f((2 * i) / dim)))));
    return inv;
  }
  // 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(base, f((2 * i) / dim))));
  if (scaling.type === 'linear') for (let i = 0; i < half; i++) inv[i] = f(inv[i] / f(scaling.factor));
  if (scaling.type === 'llama3') {
    const factor = f(scaling.factor);
    const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
    const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = f(f(2 * Math.PI) / inv[i]);
      const scaled = wavelen > lowWavelen ? f(inv[i] / factor) : inv[i];
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (!medium) {
        inv[i] = scaled;
        continue;
      }
      // smooth = (old_context_len / wavelen - low) / (high - low); (1 - smooth) * inv / factor + smooth * inv
      const smooth = f(
        f(f(f(scaling.originalMaxPositions) / wavelen) - f(scaling.lowFreqFactor)) / f(scaling.highFreqFactor - scaling.lowFreqFactor),
      );
      inv[i] = f(f(f(f(1 - smooth) * scaled) / factor) + f(smooth * scaled));
    }
  }
  return inv;
}
