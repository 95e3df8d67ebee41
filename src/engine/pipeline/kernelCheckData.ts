import { SeededRandom } from '../core/seededRandom';
import { ort } from '../runtime/ort';
import type { Activations } from '../model/runner';
import type { EvaluatedRows } from '../sae/projector';
import type { SaeArchitecture, SaeNormalization, SaeWeights } from '../sae/types';

/** What decides an SAE graph's operators: the SAE's architecture and how it treats its input. */
export interface SaeGraphShape {
  architecture: SaeArchitecture;
  normalization: SaeNormalization;
  applyBDecToInput: boolean;
}

/**
 * The normalisations under which every code of the check's SAE is exact in float32 (its scale is 1/2,
 * which keeps the pre-activations distinct); under the others (per-token norms and square roots) a code
 * may round differently.
 */
export const EXACT_NORMALIZATIONS: ReadonlySet<SaeNormalization> = new Set(['none', 'expected_average_only_in']);

/** Hidden size of the check: 62 random dimensions and the two that encode each token's position. */
export const CHECK_HIDDEN = 64;
/** Tokens of the check: below 4096, so that position / 4096 stays a distinct fraction. */
export const CHECK_TOKENS = 2604;
/** Chunks of the evaluated rows: one above 2048 and one below (WebGPU's TopK sorts those two ways). */
export const CHECK_CHUNK = 2250;
/** A prompt's length in the check (where its top contexts say they are). */
const PROMPT = 128;
/** Fractions of the pre-activations: feature j adds j / 8192 and token t adds 2t / 8192. */
const FRACTION = 8192;

/** Integers in [lo, hi] from a fixed seed: the check's data is the same on every run. */
function integers(seed: number) {
  const random = new SeededRandom(seed);
  return (lo: number, hi: number) => random.integer(lo, hi);
}

/**
 * An SAE whose pre-activations are exact in float32, and exact under TF32 products too: inputs are
 * integers below 2^11, weights are 0, +-1 or powers of two, and every pre-activation is an integer plus
 * (2t + j) / 8192 for token t and feature j, within 22 significant bits. So no two features of a token and
 * no two tokens of a feature tie, nothing sits within rounding of a threshold, and the codes, firing
 * counts, histogram bins, top-k sets and top contexts are the same on every correct kernel; only sums
 * (the reconstruction, sums over tokens) depend on the order of summation. About 10% of latents fire.
 */
export function checkSae(shape: SaeGraphShape, width: number): SaeWeights {
  const d = CHECK_HIDDEN;
  const next = integers(width * 31 + d);
  const W_enc = new Float32Array(d * width);
  const W_dec = new Float32Array(width * d);
  for (let i = 0; i < d - 2; i++)
    for (let j = 0; j < width; j++) {
      const r = next(0, 7);
      W_enc[i * width + j] = r === 0 ? 1 : r === 1 ? -1 : 0;
    }
  // the position dimensions: t = 64 * high + low, so high / 64 + low / 4096 = t / 4096 = 2t / 8192
  W_enc.fill(1 / 64, (d - 2) * width, (d - 1) * width);
  W_enc.fill(1 / 4096, (d - 1) * width, d * width);
  for (let k = 0; k < width * d; k++) W_dec[k] = next(-1, 1);
  const b_dec = Float32Array.from({ length: d }, (_, i) => (i < d - 2 ? next(-1, 1) : 0));
  const fraction = (j: number) => j / FRACTION;
  // each feature's integer offset puts its firing rate near 10%: the pre-activation's mean is -b_dec . W_enc[:, j]
  // when b_dec is subtracted from the input, its spread 2 sqrt(nonzeros) (inputs uniform in [-3, 3])
  const b_enc = Float32Array.from({ length: width }, (_, j) => {
    let nonzeros = 0,
      mean = 0;
    for (let i = 0; i < d - 2; i++) {
      const w = W_enc[i * width + j];
      if (w !== 0) nonzeros++;
      if (shape.applyBDecToInput) mean -= b_dec[i] * w;
    }
    if (nonzeros === 0) W_enc[j] = nonzeros = 1;
    return -mean - Math.round(2.56 * Math.sqrt(nonzeros)) + fraction(j);
  });
  const sae: SaeWeights = {
    folder: `the provider check's ${shape.architecture} SAE`,
    format: 'saelens',
    architecture: shape.architecture,
    dIn: d,
    dSae: width,
    dtype: 'float32',
    applyBDecToInput: shape.applyBDecToInput,
    weightsFile: '',
    normalization: shape.normalization,
    scalingFactor: shape.normalization === 'expected_average_only_in' ? 0.5 : undefined,
    W_enc,
    b_enc,
    W_dec,
    b_dec,
  };
  if (shape.architecture === 'jumprelu') sae.threshold = Float32Array.from({ length: width }, (_, j) => 1 + j / (2 * FRACTION));
  if (shape.architecture === 'topk') sae.kSae = 64;
  if (shape.architecture === 'gated') {
    // the magnitude path: the encoder's integer part, its own exact biases
    sae.W_mag = W_enc.slice();
    sae.b_mag = Float32Array.from({ length: width }, (_, j) => next(-2, 2) + fraction(j));
  }
  return sae;
}

/**
 * Base's and the fine-tune's activations for the check, [1, CHECK_TOKENS, CHECK_HIDDEN]: integers in
 * [-3, 3] (the fine-tune's moved by +-1 in 30% of entries) and each token's position in the last two.
 */
export function checkActivations(): { base: Activations; fineTune: Activations } {
  const d = CHECK_HIDDEN;
  const next = integers(7);
  const base = new Float32Array(CHECK_TOKENS * d);
  const fineTune = new Float32Array(CHECK_TOKENS * d);
  for (let t = 0; t < CHECK_TOKENS; t++) {
    for (let i = 0; i < d - 2; i++) {
      const v = next(-3, 3);
      base[t * d + i] = v;
      fineTune[t * d + i] = v + (next(0, 9) < 3 ? (next(0, 1) ? 1 : -1) : 0);
    }
    base[t * d + d - 2] = fineTune[t * d + d - 2] = Math.floor(t / 64);
    base[t * d + d - 1] = fineTune[t * d + d - 1] = t % 64;
  }
  const wrap = (data: Float32Array): Activations => ({ data, hidden: d, tensor: new ort.Tensor('float32', data, [1, CHECK_TOKENS, d]) });
  return { base: wrap(base), fineTune: wrap(fineTune) };
}

/** The evaluated rows: every token but every 37th (as a run leaves out BOS), in prompts of 128 tokens. */
export function checkRows(): EvaluatedRows {
  const flat = Int32Array.from({ length: CHECK_TOKENS }, (_, t) => t).filter((t) => t % 37 !== 0);
  return { flat, sample: flat.map((t) => Math.floor(t / PROMPT)), position: flat.map((t) => t % PROMPT) };
}
