/**
 * RoPE inverse frequencies as transformers computes them (modeling_rope_utils.py: `_compute_default_rope_parameters`,
 * `_compute_linear_scaling_rope_parameters`, `_compute_llama3_parameters`, `_compute_longrope_parameters`), in float32 like its torch tensors:
 * every step is rounded to float32 (Math.fround) so the angles match the buffer a PyTorch run uses.
 */

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { type: 'longrope'; shortFactor: number[]; longFactor: number[]; originalMaxPositions: number; attentionFactor: number }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositions: number;
      betaFast: number;
      betaSlow: number;
      truncate: boolean;
      attentionFactor: number;
    };

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
  if (scaling.type === 'yarn') return yarnInverseFrequencies(dim, theta, scaling);
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

/**
 * YaRN (`_compute_yarn_parameters`): each frequency blends its extrapolated value 1 / base^(2i/dim) with the
 * interpolated 1 / (factor · base^(2i/dim)) by a linear ramp over the dimensions whose wavelengths fall between
 * beta_fast and beta_slow rotations of original_max_position_embeddings (the ramp's ends floored and ceiled when
 * `truncate`); the correction range in float64, as Python computes it, the rest in float32.
 */
function yarnInverseFrequencies(dim: number, theta: number, s: Extract<RopeScaling, { type: 'yarn' }>): Float32Array {
  const half = dim / 2;
  const correction = (rotations: number) => (dim * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correction(s.betaFast);
  let high = correction(s.betaSlow);
  if (s.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const pos = f(Math.pow(f(theta), f((2 * i) / dim)));
    const extrapolation = f(1 / pos);
    const interpolation = f(1 / f(f(s.factor) * pos));
    const ramp = Math.min(1, Math.max(0, f(f(i - f(low)) / f(high - low))));
    const extrapolationFactor = f(1 - ramp);
    inv[i] = f(f(interpolation * f(1 - extrapolationFactor)) + f(extrapolation * extrapolationFactor));
  }
  return inv;
}
