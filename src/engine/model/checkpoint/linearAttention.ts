/**
 * Qwen 3.5's Gated DeltaNet token mixer (transformers 5.18 modeling_qwen3_5.py Qwen3_5GatedDeltaNet), the linear
 * attention of its linear_attention layers, as an ONNX subgraph of the decoder (decoderGraph.ts); OLMo Hybrid's
 * (modeling_olmo_hybrid.py OlmoHybridGatedDeltaNet) is the same with its own module names and β doubled, and
 * Qwen3-Next's (modeling_qwen3_next.py Qwen3NextGatedDeltaNet) with its projections fused per key head:
 * - padding tokens' inputs are zeroed (apply_mask_to_padding_states), so that they leave the state at zero;
 * - in_proj_qkv, then a causal depthwise convolution over the sequence (kernel linear_conv_kernel_dim, no bias) and
 *   SiLU; split into q, k (key heads) and v (value heads);
 * - q and k L2-normalised per head (x · rsqrt(Σx² + 1e-6)), q times key_head_dim^-0.5, both repeated for the value
 *   heads (repeat_interleave: each key head serves consecutive value heads);
 * - β = sigmoid(in_proj_b x), g = -exp(A_log) · softplus(in_proj_a x + dt_bias);
 * - the gated delta rule, token by token from a zero state S [key_head_dim, value_head_dim] per value head:
 *   S ← S · exp(g); S ← S + k ⊗ (v - kᵀS) · β; o = qᵀS (torch_recurrent_gated_delta_rule; transformers runs the
 *   chunked form of the same recurrence on a prompt, which agrees to float32 rounding);
 * - o RMS-normalised per head, times norm.weight (not 1 + weight) and SiLU(in_proj_z x) (Qwen3_5RMSNormGated), then
 *   out_proj.
 * The recurrence runs in float32 (transformers casts q, k, v, β and g to float32 for it) in an ONNX Scan over the
 * sequence.
 */
import type { onnx } from 'onnx-proto';
import { intAttr } from '../onnxGraph';
import type { LinearAttentionSpec } from './mixerConfig';
import { rmsNormalized, type GraphFrame, type Projections } from './graphParts';
import type { WeightReader } from './checkpointWeights';
import { causalConv, realTokens, scanFromZero, softplus, type RecurrenceStep } from './recurrentParts';
import { FLOAT, type ScopedGraph } from './scopedGraph';

export interface LinearAttentionContext {
  g: ScopedGraph;
  weights: WeightReader;
  projections: Projections;
  frame: GraphFrame;
  hidden: number;
}

/** The linear_attn branch of block `block` (weights under `w`) on its normed input x [B, S, hidden]. */
export function gatedDeltaNet(ctx: LinearAttentionContext, spec: LinearAttentionSpec, block: string, w: string, x: string): string {
  const { g, weights, projections, hidden } = ctx;
  const scope = `${block}/linear_attn`;
  const { keyHeads, valueHeads, keyHeadDim: dk, valueHeadDim: dv, convKernel } = spec;
  // Qwen3_5GatedDeltaNet's module names, or OlmoHybridGatedDeltaNet's (q, k and v projected apart, then concatenated)
  const olmo = spec.layout === 'olmo_hybrid';
  const [zName, aName, bName, outName, normName] = olmo
    ? ['g_proj', 'a_proj', 'b_proj', 'o_proj', 'o_norm']
    : ['in_proj_z', 'in_proj_a', 'in_proj_b', 'out_proj', 'norm'];
  const keyDim = keyHeads * dk;
  const valueDim = valueHeads * dv;
  const convDim = 2 * keyDim + valueDim;
  const f32 = (op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []) => g.one(scope, op, inputs, attrs, FLOAT);
  const shaped = (t: string, dims: number[], type: number | null = FLOAT) =>
    g.one(scope, 'Reshape', [t, g.int64s(`sae_diff.shape_${dims.join('_')}`, dims)], [], type);
  const toFloat = (t: string) => g.cast(scope, t, g.act, FLOAT);
  const linear = (module: string, input: string, width: number) =>
    projections.linear(`${scope}/${module}`, input, `${w}.linear_attn.${module}`, width, false, hidden);

  const masked = g.one(scope, 'Mul', [x, realTokens(g, scope, g.act)]);
  const fused = spec.layout === 'qwen3_next' ? qwen3NextProjections() : undefined;

  // causal_conv1d_fn: F.conv1d over [B, channels, S] with kernel - 1 zeros in front, groups = channels, then SiLU
  const qkv = fused
    ? fused.qkv
    : olmo
      ? g.one(
          scope,
          'Concat',
          [linear('q_proj', masked, keyDim), linear('k_proj', masked, keyDim), linear('v_proj', masked, valueDim)],
          [intAttr('axis', -1)],
        )
      : linear('in_proj_qkv', masked, convDim);
  const weight = olmo ? olmoConv() : weights.get(`${w}.linear_attn.conv1d.weight`, [convDim, 1, convKernel]);
  const mixed = toFloat(causalConv(g, scope, qkv, { weight, channels: convDim, kernel: convKernel, silu: true }));
  const [q, k, v] = g.op(
    scope,
    'Split',
    [mixed, g.int64s(`sae_diff.qkv_split_${keyDim}_${valueDim}`, [keyDim, keyDim, valueDim])],
    [intAttr('axis', -1)],
    3,
    FLOAT,
  );

  // l2norm (x · rsqrt(Σx² + 1e-6)) per key head, then repeat_interleave over the value heads
  const l2eps = g.floats('sae_diff.l2norm_eps', Float32Array.of(1e-6), []);
  const perValueHead = (t: string) => {
    const heads = shaped(t, [0, 0, keyHeads, dk]);
    const sumSq = f32('ReduceSum', [f32('Mul', [heads, heads]), g.int64s('sae_diff.axes_last', [-1])], [intAttr('keepdims', 1)]);
    const normed = f32('Mul', [heads, f32('Reciprocal', [f32('Sqrt', [f32('Add', [sumSq, l2eps])])])]);
    const repeat = valueHeads / keyHeads;
    if (repeat === 1) return normed;
    const expanded = f32('Expand', [
      f32('Unsqueeze', [normed, g.int64s('sae_diff.axes_3', [3])]),
      g.int64s(`sae_diff.repeat_heads_${repeat}`, [1, 1, 1, repeat, 1]),
    ]);
    return shaped(expanded, [0, 0, valueHeads, dk]);
  };
  const qScale = g.floats(`sae_diff.key_scale_${dk}`, Float32Array.of(Math.fround(1 / Math.sqrt(dk))), []);
  const query = shaped(f32('Mul', [perValueHead(q), qScale]), [0, 0, valueHeads, 1, dk]);
  const key = perValueHead(k);
  const keyRow = shaped(key, [0, 0, valueHeads, 1, dk]);
  const keyColumn = shaped(key, [0, 0, valueHeads, dk, 1]);
  const value = shaped(v, [0, 0, valueHeads, 1, dv]);

  // β = sigmoid(b); g = -exp(A_log) · softplus(a + dt_bias) (F.softplus: x itself above 20); the decay exp(g)
  // OLMo Hybrid's linear_allow_neg_eigval: beta * 2.0
  let sigmoid = f32('Sigmoid', [toFloat(fused?.b ?? linear(bName, masked, valueHeads))]);
  if (spec.betaScale !== 1)
    sigmoid = f32('Mul', [sigmoid, g.floats(`sae_diff.beta_scale_${spec.betaScale}`, Float32Array.of(spec.betaScale), [])]);
  const beta = shaped(sigmoid, [0, 0, valueHeads, 1, 1]);
  const a = f32('Add', [
    toFloat(fused?.a ?? linear(aName, masked, valueHeads)),
    toFloat(weights.get(`${w}.linear_attn.dt_bias`, [valueHeads])),
  ]);
  const step = softplus(g, scope, a);
  const rate = f32('Exp', [toFloat(weights.get(`${w}.linear_attn.A_log`, [valueHeads]))]);
  const decay = shaped(f32('Exp', [f32('Neg', [f32('Mul', [rate, step])])]), [0, 0, valueHeads, 1, 1]);

  const outputs = scanFromZero(g, scope, [valueHeads, dk, dv], [query, keyRow, keyColumn, value, decay, beta], DELTA_RULE);

  // Qwen3_5RMSNormGated on each head's output: normalised in float32, times the weight in the activations' type,
  // times SiLU(z) in float32
  const core = g.cast(scope, g.cast(scope, shaped(outputs, [0, 0, valueHeads, dv]), FLOAT, g.act), g.act, FLOAT);
  const norm = `${scope}/${normName}`;
  const normed = rmsNormalized(g, norm, core, spec.gateNormEps);
  const weighted = g.one(norm, 'Mul', [weights.get(`${w}.linear_attn.${normName}.weight`, [dv]), g.cast(norm, normed, FLOAT, g.act)]);
  const gate = toFloat(shaped(fused?.z ?? linear(zName, masked, valueDim), [0, 0, valueHeads, dv], g.act));
  const gated = g.one(
    norm,
    'Mul',
    [toFloat(weighted), g.one(norm, 'Mul', [gate, g.one(norm, 'Sigmoid', [gate], [], FLOAT)], [], FLOAT)],
    [],
    FLOAT,
  );
  const merged = shaped(g.cast(norm, gated, FLOAT, g.act), [0, 0, valueDim], g.act);
  /**
   * Qwen3NextGatedDeltaNet's fused projections (fix_query_key_value_ordering): in_proj_qkvz gives, per key head, its
   * q and k, then v and z of the value heads it serves; in_proj_ba, per key head, b then a of those value heads.
   * Regrouped here as Qwen 3.5's separate projections: q, k, v concatenated (the convolution's input), z, b, a.
   */
  function qwen3NextProjections(): { qkv: string; z: string; b: string; a: string } {
    const perKey = valueHeads / keyHeads;
    const split = (t: string, sizes: number[]) =>
      g.op(scope, 'Split', [t, g.int64s(`sae_diff.split_${sizes.join('_')}`, sizes)], [intAttr('axis', -1)], sizes.length, g.act);
    const grouped = (t: string, width: number) => shaped(t, [0, 0, keyHeads, width], g.act);
    const flat = (t: string, width: number) => shaped(t, [0, 0, width], g.act);
    const qkvzWidth = 2 * dk + 2 * perKey * dv;
    const [q, k, v, z] = split(grouped(linear('in_proj_qkvz', masked, keyHeads * qkvzWidth), qkvzWidth), [
      dk,
      dk,
      perKey * dv,
      perKey * dv,
    ]);
    const [b, a] = split(grouped(linear('in_proj_ba', masked, 2 * valueHeads), 2 * perKey), [perKey, perKey]);
    return {
      qkv: g.one(scope, 'Concat', [flat(q, keyDim), flat(k, keyDim), flat(v, valueDim)], [intAttr('axis', -1)]),
      z: flat(z, valueDim),
      b: flat(b, valueHeads),
      a: flat(a, valueHeads),
    };
  }
  /** OLMo Hybrid's checkpoints hold q_conv1d, k_conv1d and v_conv1d, which transformers concatenates into conv1d. */
  function olmoConv(): string {
    const part = (name: string, width: number) => weights.get(`${w}.linear_attn.${name}.weight`, [width, 1, convKernel]);
    return g.one(
      `${scope}/conv1d`,
      'Concat',
      [part('q_conv1d', keyDim), part('k_conv1d', keyDim), part('v_conv1d', valueDim)],
      [intAttr('axis', 0)],
    );
  }
  return projections.linear(`${scope}/${outName}`, merged, `${w}.linear_attn.${outName}`, hidden, false, valueDim);
}

/**
 * One token of the gated delta rule, the Scan's body: state [B, H, dk, dv] and the token's q, k as a row and as a
 * column, v, decay and β (each [B, H, ...]) in; the new state and o [B, H, 1, dv] out.
 */
const DELTA_RULE: RecurrenceStep = {
  name: 'delta_rule',
  inputs: ['q', 'k_row', 'k_column', 'v', 'decay', 'beta'],
  nodes: [
    ['Mul', ['state', 'decay'], 'decayed'],
    ['MatMul', ['k_row', 'decayed'], 'remembered'],
    ['Sub', ['v', 'remembered'], 'error'],
    ['Mul', ['error', 'beta'], 'delta'],
    ['MatMul', ['k_column', 'delta'], 'update'],
    ['Add', ['decayed', 'update'], 'next_state'],
    ['MatMul', ['q', 'next_state'], 'o'],
  ],
  nextState: 'next_state',
  output: 'o',
};
