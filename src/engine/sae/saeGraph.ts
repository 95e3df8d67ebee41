/**
 * An SAE as ONNX graphs (written with graphBuilder.ts): its weights, SAELens' input normalisations, the encoder
 * of each architecture and the decoder, and the sparse path's projection graph (base and a fine-tune in,
 * per-token scalars and the active latents out). The dense path's graph is reducedGraph.ts.
 */
import { PREPACK_MAX_BYTES, type GraphWithWeights, type SessionSettings } from '../runtime/session';
import { ARCHITECTURES } from './architectures';
import {
  BOOL,
  encodeModel,
  FLOAT,
  GraphBuilder,
  type GraphOptions,
  graphAttr,
  int,
  INT64,
  ints,
  tensorAttr,
  tensorInfo,
} from './graphBuilder';
import type { SaeWeights } from './loadSae';
import { pickLatents } from './weights';

/** Per-token outputs of the projection graph ([N] each; N tokens of base and N of the fine-tune). */
export const TOKEN_OUTPUTS = [
  'dot_h', // h_b . h_s
  'sq_hb',
  'sq_hs', // |h|^2
  'dot_r',
  'sq_rb',
  'sq_rs', // reconstructions
  'err_b',
  'err_s', // |h - r|^2
  'sq_dh',
  'dh_dr',
  'dh_de', // |Δh|^2 and its split: Δh·Δr (what the dictionary reconstructs) + Δh·Δe (the rest)
] as const;

/** Per-dimension sums ([d]), for the means in explained variance. */
export const DIM_OUTPUTS = ['sum_hb', 'sum_hs'] as const;

/**
 * The codes in sparse form: every block of CODE_BLOCK features holding an active latent, as (row, block)
 * ([nblk, 2] int64, row-major order) and its values ([nblk, CODE_BLOCK]). Everything feature-wise (L0,
 * frequencies, means, L1 distance, active and top-k sets, top contexts) is exact from these, at
 * O(L0) per token instead of O(width) passes.
 */
export const SPARSE_OUTPUTS = ['blk_b', 'blkval_b', 'blk_s', 'blkval_s'] as const;
export const CODE_BLOCK = 8;

export function addWeights(g: GraphBuilder, sae: SaeWeights): void {
  const { dIn: d, dSae: m } = sae;
  // the encoder in column blocks, the decoder in row blocks: each block is whole latents
  g.matrix('W_enc', sae.W_enc, d, m, 1);
  g.floats('b_enc', sae.b_enc, [m]);
  g.matrix('W_dec', sae.W_dec, m, d, 0);
  g.floats('b_dec', sae.b_dec, [d]);
  if (sae.threshold) g.floats('threshold', sae.threshold, [m]);
  if (sae.kSae) g.ints('k_sae', [Math.min(sae.kSae, m)]);
  if (sae.W_mag) {
    g.matrix('W_mag', sae.W_mag, d, m, 1);
    g.floats('b_mag', sae.b_mag!, [m]);
  }
  if (sae.architecture === 'jumprelu' || sae.architecture === 'gated') g.floats('zero', new Float32Array([0]), []);
  if (sae.normalization === 'expected_average_only_in') g.floats('norm_scale', Float32Array.of(sae.scalingFactor!), []);
  if (sae.normalization === 'constant_norm_rescale') g.floats('sqrt_d', Float32Array.of(Math.sqrt(d)), []);
  if (sae.normalization === 'layer_norm') {
    g.floats('ln_eps', Float32Array.of(1e-5), []);
    g.floats('ln_dof', Float32Array.of(d - 1), []);
  }
  // per-token norms only: an unused initialiser makes ONNX Runtime print a warning on every session
  if (sae.normalization === 'constant_norm_rescale' || sae.normalization === 'layer_norm') g.ints('norm_axis', [1]);
}

/**
 * SAELens activation normalisation, exactly: the input the encoder sees, and how a reconstruction
 * made in that space maps back to the activation's space.
 */
function addNormalization(g: GraphBuilder, sae: SaeWeights, h: string): { input: string; restore: (r: string) => string } {
  const rowSum = (t: string) => g.one('ReduceSum', [t, 'norm_axis'], [int('keepdims', 1)]);
  switch (sae.normalization) {
    case 'expected_average_only_in':
      return { input: g.one('Mul', [h, 'norm_scale']), restore: (r) => g.one('Div', [r, 'norm_scale']) };
    case 'constant_norm_rescale': {
      // x * sqrt(d) / |x|; the reconstruction is divided by the same per-token scale
      const scale = g.one('Div', ['sqrt_d', g.one('Sqrt', [rowSum(g.one('Mul', [h, h]))])]);
      return { input: g.one('Mul', [h, scale]), restore: (r) => g.one('Div', [r, scale]) };
    }
    case 'layer_norm': {
      // (x - mean) / (std + 1e-5), std with Bessel's correction as torch.std; back: r * std + mean
      const mean = g.one('ReduceMean', [h], [ints('axes', [1]), int('keepdims', 1)]);
      const centred = g.one('Sub', [h, mean]);
      const std = g.one('Sqrt', [g.one('Div', [rowSum(g.one('Mul', [centred, centred])), 'ln_dof'])]);
      return {
        input: g.one('Div', [centred, g.one('Add', [std, 'ln_eps'])]),
        restore: (r) => g.one('Add', [g.one('Mul', [r, std]), mean]),
      };
    }
    default:
      return { input: h, restore: (r) => r };
  }
}

/** docs/metrics.md's encoder f(x) per architecture and the decoder g(z), on input h. */
export function addEncoder(g: GraphBuilder, sae: SaeWeights, h: string, tag: string) {
  const norm = addNormalization(g, sae, h);
  const x = sae.applyBDecToInput ? g.one('Sub', [norm.input, 'b_dec']) : norm.input;
  const pre = g.linear(x, 'W_enc', 'b_enc');
  const z = ARCHITECTURES[sae.architecture].activation(g, pre, x, `z_${tag}`, sae.dSae);
  const r = norm.restore(g.one('Add', [g.matmul(z, 'W_dec'), 'b_dec']));
  return { pre, z, r };
}

/** The graph options for a session of these settings: fed weights on the CPU only (a GPU would upload them every run). */
export function saeGraphOptions(settings: SessionSettings): GraphOptions {
  return { maxBufferBytes: settings.maxBufferBytes, feedWeightsOver: settings.provider === 'cpu' ? PREPACK_MAX_BYTES : undefined };
}

/**
 * `dpre` [1, m]: the mean pre-activation shift per feature, (mean h_s - mean h_b) W_enc (the biases cancel),
 * from a [1, d] input `dmean`, fed at the end of a run (zeros otherwise). Exact for the linear
 * normalisations; projectors report nothing for the per-token ones.
 */
export function addPreActivationShift(g: GraphBuilder, sae: SaeWeights): void {
  const x = sae.normalization === 'expected_average_only_in' ? g.one('Mul', ['dmean', 'norm_scale']) : 'dmean';
  g.one('Identity', [g.matmul(x, 'W_enc')], [], 'dpre');
}

/** The encoder alone (x [N, d] -> z [N, m], r [N, d]): for checks against a direct computation. */
export function buildEncoderGraph(sae: SaeWeights, options: GraphOptions = {}): GraphWithWeights {
  const g = new GraphBuilder(options);
  addWeights(g, sae);
  const { z, r } = addEncoder(g, sae, 'x', 'x');
  g.one('Identity', [z], [], 'z');
  g.one('Identity', [r], [], 'r');
  return encodeModel(
    g,
    'sae_encoder',
    [tensorInfo('x', FLOAT, ['N', sae.dIn])],
    [tensorInfo('z', FLOAT, ['N', sae.dSae]), tensorInfo('r', FLOAT, ['N', sae.dIn])],
  );
}

/**
 * The same SAE restricted to the latents `ids` (in that order), for architectures whose latents are
 * feature-wise (architectures.ts): its encoder gives exactly the full SAE's z at those latents, at
 * |ids| / width of the cost. The decoder rows come along so the graph stays whole.
 */
export function latentSubset(sae: SaeWeights, ids: readonly number[]): SaeWeights {
  if (!ARCHITECTURES[sae.architecture].featureWise)
    throw new Error(`${sae.architecture} latents depend on each other: encode the whole SAE`);
  const m = sae.dSae,
    d = sae.dIn;
  const columns = (w: Float32Array) => pickLatents(w, [d, m], 1, ids);
  const entries = (b: Float32Array) => pickLatents(b, [m], 0, ids);
  return {
    ...sae,
    dSae: ids.length,
    W_enc: columns(sae.W_enc),
    b_enc: entries(sae.b_enc),
    W_dec: pickLatents(sae.W_dec, [m, d], 0, ids),
    threshold: sae.threshold ? entries(sae.threshold) : undefined,
    ...(sae.W_mag ? { W_mag: columns(sae.W_mag), b_mag: entries(sae.b_mag!) } : {}),
  };
}

/** Pads the width to a multiple of CODE_BLOCK with features that never fire (zero weights, pre-activation -1e30). */
function padToBlocks(sae: SaeWeights): SaeWeights {
  const m = sae.dSae,
    d = sae.dIn;
  const padded = Math.ceil(m / CODE_BLOCK) * CODE_BLOCK;
  if (padded === m) return sae;
  // encoder columns and biases of the new features: zero weights, pre-activation -1e30 (never fires)
  const padColumns = (w: Float32Array) => {
    const out = new Float32Array(d * padded);
    for (let i = 0; i < d; i++) out.set(w.subarray(i * m, i * m + m), i * padded);
    return out;
  };
  const padBias = (b: Float32Array) => {
    const out = new Float32Array(padded).fill(-1e30);
    out.set(b);
    return out;
  };
  const W_dec = new Float32Array(padded * d);
  W_dec.set(sae.W_dec);
  const threshold = sae.threshold ? new Float32Array(padded).fill(3e38) : undefined;
  threshold?.set(sae.threshold!);
  return {
    ...sae,
    dSae: padded,
    W_enc: padColumns(sae.W_enc),
    b_enc: padBias(sae.b_enc),
    W_dec,
    threshold,
    ...(sae.W_mag ? { W_mag: padColumns(sae.W_mag), b_mag: padBias(sae.b_mag!) } : {}),
  };
}

/**
 * Builds the projection graph for one SAE: both models' activations in; per-token dot products and norms
 * of activations and reconstructions, and the sparse codes, out (never [tokens x width] to JavaScript).
 * Inputs: hb, hs [N, d] float32 (the same tokens in base and fine-tune); dmean [1, d] (see dpre);
 * use_rb [] bool and rb [R, d]: with use_rb true, rb [N, d] is base's reconstruction from an earlier run on the
 * same hb (its `rb_base` output), and base is not encoded again (blk_b and blkval_b are then empty); with
 * use_rb false, base is encoded and rb may be empty ([0, d]). ONNX Runtime's Node binding takes no optional
 * inputs (it drops feeds for inputs with a default), so both are always fed.
 */
export function buildProjectionGraph(unpadded: SaeWeights, options: GraphOptions = {}): GraphWithWeights {
  const sae = padToBlocks(unpadded);
  const g = new GraphBuilder(options);
  const d = sae.dIn;
  addWeights(g, sae);
  g.ints('axis0', [0]);
  g.ints('axis1', [1]);
  g.ints('block_shape', [0, -1, CODE_BLOCK]);
  g.ints('pool_shape', [0, 1, -1]);
  // Sparse codes by blocks of 8 features: a max-pool finds the blocks with an active latent (one fast
  // vectorised pass), NonZero scans that 8x smaller map, and GatherND returns those blocks' values.
  const sparseCodes = (code: string, blkName: string, valName: string) => {
    const pooled = g.one(
      'MaxPool',
      [g.one('Reshape', [code, 'pool_shape'])],
      [ints('kernel_shape', [CODE_BLOCK]), ints('strides', [CODE_BLOCK])],
    );
    const blocks = g.one('Transpose', [g.one('NonZero', [g.one('Squeeze', [pooled, 'axis1'])])], [ints('perm', [1, 0])], blkName);
    g.one('GatherND', [g.one('Reshape', [code, 'block_shape']), blocks], [], valName);
  };

  // base: encoded here, or its reconstruction given (several fine-tunes compared on the same batch)
  const encodeBase = g.branch(() => {
    const b = addEncoder(g, sae, 'hb', 'b');
    sparseCodes(b.z, 'enc_blk_b', 'enc_blkval_b');
    return [g.one('Identity', [b.r], [], 'enc_rb'), 'enc_blk_b', 'enc_blkval_b'];
  });
  const givenBase = g.branch(() => [
    g.one('Identity', ['rb'], [], 'given_rb'),
    g.one('Constant', [], [tensorAttr('value', INT64, [0, 2])], 'given_blk_b'),
    g.one('Constant', [], [tensorAttr('value', FLOAT, [0, CODE_BLOCK])], 'given_blkval_b'),
  ]);
  const baseOutputs = [
    tensorInfo('', FLOAT, ['N', d]),
    tensorInfo('', INT64, ['nblk_b', 2]),
    tensorInfo('', FLOAT, ['nblk_b', CODE_BLOCK]),
  ];
  g.op(
    'If',
    ['use_rb'],
    [graphAttr('then_branch', 'given_base', givenBase, baseOutputs), graphAttr('else_branch', 'encode_base', encodeBase, baseOutputs)],
    ['rb_base', 'blk_b', 'blkval_b'],
  );
  const b = { r: 'rb_base' };
  const s = addEncoder(g, sae, 'hs', 's');
  sparseCodes(s.z, 'blk_s', 'blkval_s');

  const rowSum = (t: string, out: string) => g.one('ReduceSum', [t, 'axis1'], [int('keepdims', 0)], out);
  // |x|^2 with the same kernels as the dot products, so that identical activations give a cosine of exactly 1
  const rowSq = (t: string, out: string) => rowSum(g.one('Mul', [t, t]), out);
  rowSum(g.one('Mul', ['hb', 'hs']), 'dot_h');
  rowSq('hb', 'sq_hb');
  rowSq('hs', 'sq_hs');
  rowSum(g.one('Mul', [b.r, s.r]), 'dot_r');
  rowSq(b.r, 'sq_rb');
  rowSq(s.r, 'sq_rs');
  rowSq(g.one('Sub', ['hb', b.r]), 'err_b');
  rowSq(g.one('Sub', ['hs', s.r]), 'err_s');
  // Δh = Δr + Δe (e = h - r): |Δh|^2 = Δh·Δr + Δh·Δe, each part computed on its own
  const dh = g.one('Sub', ['hs', 'hb']);
  const dr = g.one('Sub', [s.r, b.r]);
  rowSq(dh, 'sq_dh');
  rowSum(g.one('Mul', [dh, dr]), 'dh_dr');
  rowSum(g.one('Mul', [dh, g.one('Sub', [dh, dr])]), 'dh_de');
  addPreActivationShift(g, sae);
  g.one('ReduceSum', ['hb', 'axis0'], [int('keepdims', 0)], 'sum_hb');
  g.one('ReduceSum', ['hs', 'axis0'], [int('keepdims', 0)], 'sum_hs');

  const outputs = [
    ...TOKEN_OUTPUTS.map((n) => tensorInfo(n, FLOAT, ['N'])),
    ...DIM_OUTPUTS.map((n) => tensorInfo(n, FLOAT, [d])),
    tensorInfo('dpre', FLOAT, [1, sae.dSae]),
    tensorInfo('blk_b', INT64, ['nblk_b', 2]),
    tensorInfo('blkval_b', FLOAT, ['nblk_b', CODE_BLOCK]),
    tensorInfo('blk_s', INT64, ['nblk_s', 2]),
    tensorInfo('blkval_s', FLOAT, ['nblk_s', CODE_BLOCK]),
    tensorInfo('rb_base', FLOAT, ['N', d]),
  ];
  const inputs = [
    tensorInfo('hb', FLOAT, ['N', d]),
    tensorInfo('hs', FLOAT, ['N', d]),
    tensorInfo('dmean', FLOAT, [1, d]),
    tensorInfo('use_rb', BOOL, []),
    tensorInfo('rb', FLOAT, ['R', d]),
  ];
  return encodeModel(g, 'sae_projection', inputs, outputs);
}
