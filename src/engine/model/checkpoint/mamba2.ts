/**
 * IBM Granite 4.0-H's Mamba2 mixer (transformers 5.18 modeling_granitemoehybrid.py GraniteMoeHybridMambaLayer, its
 * torch path: mamba2_chunk_scan's reference), as part of the decoder graph (decoderGraph.ts):
 * - padding tokens' inputs zeroed (apply_mask_to_padding_states); in_proj into the gate z, x / B / C, and dt;
 * - x / B / C through a causal depthwise convolution (kernel mamba_d_conv, mamba_conv_bias) and SiLU, padding zeroed
 *   again; B and C per group (mamba_n_groups), repeated for the heads of each group (repeat_interleave);
 * - dt = softplus(dt + dt_bias) clamped to time_step_limit; per head h and token t, from a zero state
 *   S [head_dim, d_state]: S ← exp(A_h · dt) · S + (dt · x_t) ⊗ B_t, y_t = S · C_t + D_h · x_t, A = -exp(A_log)
 *   (the chunked scan computes the same recurrence in float32); as an ONNX Scan over the sequence;
 * - y · SiLU(z), RMS-normalised over the whole inner width (GraniteMoeHybridRMSNormGated: the gate before the norm;
 *   Nemotron-H's Zamba2RMSNormGated per group), times norm.weight; out_proj.
 * NVIDIA's Nemotron-H (modeling_nemotron_h.py NemotronHMamba2Mixer) runs the same mixer under the name `mixer`; IBM's
 * Bamba (modeling_bamba.py BambaMixer, which Granite 4.0-H's copies) under `mamba`; TII's Falcon-H1
 * (modeling_falcon_h1.py FalconH1Mixer) too, with its muP multipliers and its gated norm optional (MambaSpec.gatedNorm).
 */
import type { onnx } from 'onnx-proto';
import { intAttr } from '../onnxGraph';
import type { MambaSpec } from './mixerConfig';
import { rmsNormalized, type Projections } from './graphParts';
import type { WeightReader } from './checkpointWeights';
import { causalConv, realTokens, scanFromZero, softplus, type RecurrenceStep } from './recurrentParts';
import { FLOAT, type ScopedGraph } from './scopedGraph';

/** The mamba branch of block `block` (weights under `w`) on its normed input x [B, S, hidden]. */
export function mamba2(
  ctx: {
    g: ScopedGraph;
    weights: WeightReader;
    projections: Projections;
    hidden: number;
    eps: number;
    /** The mixer's module name: mamba (Granite 4) or mixer (Nemotron-H). */
    module?: string;
  },
  spec: MambaSpec,
  block: string,
  w: string,
  x: string,
): string {
  const { g, weights, projections, hidden } = ctx;
  const module = ctx.module ?? 'mamba';
  const scope = `${block}/${module}`;
  const m = `${w}.${module}`;
  const { heads, headDim, groups, stateSize, convKernel } = spec;
  const inner = heads * headDim;
  const convDim = inner + 2 * groups * stateSize;
  const f32 = (op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []) => g.one(scope, op, inputs, attrs, FLOAT);
  const shaped = (t: string, dims: number[]) => g.one(scope, 'Reshape', [t, g.int64s(`sae_diff.shape_${dims.join('_')}`, dims)], [], FLOAT);
  const toFloat = (t: string) => g.cast(scope, t, g.act, FLOAT);
  const real = realTokens(g, scope, FLOAT);
  const constant = (name: string, values: Float32Array, dims: number[]) => g.cast(scope, g.floats(name, values, dims), FLOAT, g.act);
  let masked = g.one(scope, 'Mul', [x, realTokens(g, scope, g.act)]);
  // Falcon-H1: hidden_states * ssm_in_multiplier after the padding is zeroed
  if (spec.falcon)
    masked = g.one(scope, 'Mul', [
      masked,
      constant(`sae_diff.ssm_in_${spec.falcon.inputScale}`, Float32Array.of(spec.falcon.inputScale), []),
    ]);

  let projected = projections.linear(`${scope}/in_proj`, masked, `${m}.in_proj`, inner + convDim + heads, spec.projBias, hidden);
  // Falcon-H1's mup_vector (compute_mup_vector): z, x, B, C and dt each times its ssm_multipliers entry
  if (spec.falcon)
    projected = g.one(scope, 'Mul', [projected, constant(`sae_diff.mup_${layerKey(spec)}`, mupVector(spec), [inner + convDim + heads])]);
  const [gate, xbc, dtRaw] = g.op(
    scope,
    'Split',
    [projected, g.int64s(`sae_diff.mamba_split_${inner}_${convDim}_${heads}`, [inner, convDim, heads])],
    [intAttr('axis', -1)],
    3,
  );
  const weight = weights.get(`${m}.conv1d.weight`, [convDim, 1, convKernel]);
  const bias = spec.convBias ? weights.get(`${m}.conv1d.bias`, [convDim]) : undefined;
  const activated = causalConv(g, scope, xbc, { weight, bias, channels: convDim, kernel: convKernel, silu: true });
  // the padding zeroed again after the convolution, so that it leaves the state at zero
  const xbcF = f32('Mul', [toFloat(activated), real]);
  const [xs, bs, cs] = g.op(
    scope,
    'Split',
    [xbcF, g.int64s(`sae_diff.mamba_xbc_${inner}_${groups * stateSize}`, [inner, groups * stateSize, groups * stateSize])],
    [intAttr('axis', -1)],
    3,
    FLOAT,
  );

  // dt = clamp(softplus(dt + dt_bias)) (F.softplus: x itself above 20)
  const biased = f32('Add', [toFloat(dtRaw), toFloat(weights.get(`${m}.dt_bias`, [heads]))]);
  const positive = softplus(g, scope, biased);
  const [low, high] = spec.dtLimit;
  const dt = f32('Clip', [
    positive,
    g.floats(`sae_diff.dt_min_${low}`, Float32Array.of(low), []),
    g.floats(`sae_diff.dt_max_${high}`, Float32Array.of(Number.isFinite(high) ? high : 3.4028234663852886e38), []),
  ]);
  const rate = f32('Neg', [f32('Exp', [toFloat(weights.get(`${m}.A_log`, [heads]))])]);
  const decay = shaped(f32('Exp', [f32('Mul', [dt, rate])]), [0, 0, heads, 1, 1]);

  const xHeads = shaped(xs, [0, 0, heads, headDim]);
  const dtx = shaped(f32('Mul', [xHeads, f32('Unsqueeze', [dt, g.int64s('sae_diff.axes_last', [-1])])]), [0, 0, heads, headDim, 1]);
  /** B or C [B, S, groups · state] per head [B, S, heads, state] (each group's repeated for its heads). */
  const perHead = (t: string) => {
    const grouped = shaped(t, [0, 0, groups, 1, stateSize]);
    const expanded = f32('Expand', [grouped, g.int64s(`sae_diff.mamba_group_heads_${heads / groups}`, [1, 1, 1, heads / groups, 1])]);
    return expanded;
  };
  const bRow = shaped(perHead(bs), [0, 0, heads, 1, stateSize]);
  const cColumn = shaped(perHead(cs), [0, 0, heads, stateSize, 1]);

  const ys = scanFromZero(g, scope, [heads, headDim, stateSize], [decay, dtx, bRow, cColumn], SSM_STEP);
  // y + D · x (D per head)
  const withSkip = f32('Add', [
    shaped(ys, [0, 0, heads, headDim]),
    f32('Mul', [xHeads, f32('Unsqueeze', [toFloat(weights.get(`${m}.D`, [heads])), g.int64s('sae_diff.axes_last', [-1])])]),
  ]);
  const y = g.cast(scope, shaped(withSkip, [0, 0, inner]), FLOAT, g.act);

  const norm = `${scope}/norm`;
  const z = toFloat(gate);
  const siluZ = g.one(norm, 'Mul', [z, g.one(norm, 'Sigmoid', [z], [], FLOAT)], [], FLOAT);
  const order = spec.gatedNorm ?? 'gate_first';
  let gatedOut: string;
  if (order === 'none') {
    // Falcon-H1 without mamba_rms_norm: scan_output * silu(gate), no norm
    gatedOut = g.cast(scope, f32('Mul', [toFloat(y), siluZ]), FLOAT, g.act);
  } else {
    // GraniteMoeHybridRMSNormGated: (y · silu(z)) in float32, RMS-normalised, then weight · it in the activations' type;
    // FalconH1RMSNormGated: the gate before the norm or after it, the weight in float32
    const before = order === 'gate_first' ? g.one(norm, 'Mul', [toFloat(y), siluZ], [], FLOAT) : toFloat(y);
    // Zamba2RMSNormGated (Nemotron-H), FalconH1RMSNormGated: each of normGroups groups of the inner width on its own
    const groupsOf = spec.normGroups;
    const normed =
      groupsOf === 1
        ? rmsNormalized(g, norm, before, ctx.eps)
        : shaped(rmsNormalized(g, norm, shaped(before, [0, 0, groupsOf, inner / groupsOf]), ctx.eps), [0, 0, inner]);
    const weight = weights.get(`${m}.norm.weight`, [inner]);
    if (!spec.falcon) gatedOut = g.one(norm, 'Mul', [weight, g.cast(norm, normed, FLOAT, g.act)]);
    else {
      const weightedF = g.one(norm, 'Mul', [g.cast(norm, weight, g.act, FLOAT), normed], [], FLOAT);
      gatedOut = g.cast(norm, order === 'norm_first' ? g.one(norm, 'Mul', [weightedF, siluZ], [], FLOAT) : weightedF, FLOAT, g.act);
    }
  }
  return projections.linear(`${scope}/out_proj`, gatedOut, `${m}.out_proj`, hidden, spec.outBias ?? spec.projBias, inner);
}

/** Falcon-H1's mup_vector over in_proj's output [z (inner), x (inner), B, C (groups · state each), dt (heads)]. */
function mupVector(spec: MambaSpec): Float32Array {
  const inner = spec.heads * spec.headDim;
  const gs = spec.groups * spec.stateSize;
  const [z, x, b, c, dt] = spec.falcon!.projectionScales;
  const sizes: [number, number][] = [
    [inner, z],
    [inner, x],
    [gs, b],
    [gs, c],
    [spec.heads, dt],
  ];
  return Float32Array.from(sizes.flatMap(([n, v]) => Array.from({ length: n }, () => v)));
}

/** A name for a mixer's muP vector: its sizes and multipliers. */
function layerKey(spec: MambaSpec): string {
  return [spec.heads, spec.headDim, spec.groups, spec.stateSize, ...spec.falcon!.projectionScales].join('_');
}

/** One token of the selective scan, the Scan's body: S ← decay · S + dtx ⊗ B; y = S · C ([B, H, head_dim, 1]). */
const SSM_STEP: RecurrenceStep = {
  name: 'ssm',
  inputs: ['decay', 'dtx', 'b', 'c'],
  nodes: [
    ['Mul', ['state', 'decay'], 'decayed'],
    ['MatMul', ['dtx', 'b'], 'update'],
    ['Add', ['decayed', 'update'], 'next_state'],
    ['MatMul', ['next_state', 'c'], 'y'],
  ],
  nextState: 'next_state',
  output: 'y',
};
