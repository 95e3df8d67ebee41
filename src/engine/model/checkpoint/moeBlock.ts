/**
 * The sparse mixture-of-experts block of Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE checkpoints (moeConfig.ts's
 * MoeSpec), as transformers 5.18 runs it (modeling_mixtral.py MixtralTopKRouter / MixtralExperts and their Qwen and
 * OLMoE copies):
 * - router: probabilities softmax(x W_gateᵀ) in float32, the top k of each token (renormalised to sum 1 where the
 *   spec says), in the activations' type;
 * - experts, in ascending order: down(silu(gate(x)) · up(x)) times the token's routing weight, added into the block's
 *   output at the token's row (index_add_: the same order of sums). `sparse` dispatch runs each expert on the tokens
 *   routed to it only (gathered, so a token costs k experts, not all); `dense` runs it on every token, weighted 0
 *   where the token chose another (for models with many experts: configKeys.ts's MAX_GATHERED_EXPERTS);
 * - Qwen2-MoE and Qwen 3.5-MoE: plus the shared expert times sigmoid(x W_shared_gateᵀ); GLM-4.5: DeepSeek-V3's grouped
 *   sigmoid routing (groupedRouter), plus ungated shared experts; DeepSeek-V2 and V3: their grouped routing
 *   (groupedRouter) beside ungated shared experts;
 * - GPT-OSS and Granite 4.0-H: routers softmaxing the top k logits, and fused experts (gptOssExperts,
 *   chunkedExperts; Granite's shared_mlp is added by the block);
 * - Gemma 4 26B-A4B: its router (gemma4Router) and fused experts (chunkedExperts), beside the MLP (decoderGraph.ts).
 * The nodes sit in the block's module scope (`/model/layers.3/mlp`, Mixtral's and Granite's
 * `/model/layers.3/block_sparse_moe`, Gemma 4's the block's own), its output being what the residual sum adds (the
 * mlp_out hook) or, for Gemma 4, what its norms read. routedExperts is also Nemotron 3's (nemotronMoe.ts).
 */
import { onnx } from 'onnx-proto';
import { intAttr, TensorDataType } from '../onnxGraph';
import type { WeightReader } from './checkpointWeights';
import type { GroupedRouting } from './configKeys';
import { GPT_OSS_LIMIT, type MoeSpec } from './moeConfig';
import { geluTanh, type Projections } from './graphParts';
import { mxfp4Weight } from './mxfp4';
import { FLOAT, INT64, ints, type ScopedGraph } from './scopedGraph';

export interface MoeContext {
  g: ScopedGraph;
  weights: WeightReader;
  projections: Projections;
  hidden: number;
  /** x -> [n, hidden] and back to the batch's [B, S, hidden]. */
  flatShape: string;
  batchShape: string;
  silu(scope: string, t: string): string;
}

const BOOL = TensorDataType.BOOL;

/**
 * The MoE block's output for `x` [B, S, hidden] (the normed input of the MLP) of the layer whose weights start with
 * `w`; Gemma 4 routes from another input, `routerX` (its router's normalised input).
 */
export function moeBlock(ctx: MoeContext, moe: MoeSpec, block: string, w: string, x: string, routerX?: string): string {
  const { g, projections, hidden } = ctx;
  // Mixtral's and Granite's block_sparse_moe, Gemma 4's router and experts in the block itself, the others' mlp
  const module = moe.module ?? (moe.mixtralNames || moe.fused === 'granite' ? 'block_sparse_moe' : moe.fused === 'gemma4' ? '' : 'mlp');
  const scope = module ? `${block}/${module}` : block;
  const wn = module ? `${w}.${module}` : w;
  const flat = g.one(scope, 'Reshape', [x, ctx.flatShape]);
  const { chosen, routing } =
    moe.fused === 'gemma4'
      ? gemma4Router(ctx, moe, scope, wn, g.one(scope, 'Reshape', [routerX!, ctx.flatShape]))
      : moe.fused === 'gpt_oss' || moe.fused === 'granite'
        ? topKRouter(ctx, moe, scope, wn, flat)
        : moe.ernieRouter
          ? ernieRouter(ctx, moe, moe.ernieRouter.normMin, `${scope}/gate`, wn, flat)
          : moe.lfm2Router
            ? lfm2Router(ctx, moe, moe.lfm2Router, `${scope}/gate`, wn, flat)
            : moe.grouped
              ? groupedRouter(
                  ctx,
                  { ...moe.grouped, experts: moe.experts, topK: moe.topK, normalise: moe.normalise },
                  `${scope}/gate`,
                  `${wn}.gate`,
                  flat,
                )
              : softmaxRouter(ctx, moe, scope, wn, flat);
  const expert =
    moe.fused === 'gpt_oss'
      ? gptOssExperts(ctx, moe, scope, wn)
      : moe.fused === 'granite'
        ? chunkedExperts(ctx, moe, `${wn}.input_linear.weight`, `${wn}.output_linear.weight`, ctx.silu)
        : moe.fused === 'gemma4'
          ? chunkedExperts(ctx, moe, `${wn}.experts.gate_up_proj`, `${wn}.experts.down_proj`, (sc, t) => geluTanh(ctx.g, sc, t))
          : moe.fused === 'qwen3_vl'
            ? chunkedExperts(ctx, moe, `${wn}.experts.gate_up_proj`, `${wn}.experts.down_proj`, ctx.silu)
            : swigluExperts(ctx, moe, scope, wn);

  let out = routedExperts(g, `${scope}/experts`, flat, { chosen, routing }, moe.experts, moe.dispatch, expert);
  if (moe.sharedIntermediate !== undefined) {
    // Qwen2MoeSparseMoeBlock, Qwen3_5MoeSparseMoeBlock: experts' output + sigmoid(shared_expert_gate(x)) * shared_expert(x)
    const shared = swiglu(ctx, moe, `${scope}/shared_expert`, flat, `${wn}.shared_expert`, moe.sharedIntermediate);
    const gate = g.one(scope, 'Sigmoid', [
      projections.linearRows(`${scope}/shared_expert_gate`, flat, `${wn}.shared_expert_gate`, 1, false, hidden),
    ]);
    out = g.one(scope, 'Add', [out, g.one(scope, 'Mul', [gate, shared])]);
  }
  // Glm4MoeMoE and Ernie4_5_MoeSparseMoeBlock: experts' output + shared_experts(x), no gate
  if (moe.sharedExperts !== undefined) {
    const shared = swiglu(ctx, moe, `${scope}/shared_experts`, flat, `${wn}.shared_experts`, moe.sharedExperts, moe.sharedExpertsBias);
    out = g.one(scope, 'Add', [out, shared]);
  }
  return g.one(scope, 'Reshape', [out, ctx.batchShape]);
}

/**
 * The experts' outputs for the tokens `flat` [n, width], each token's chosen ones times their routing weights, added
 * in ascending expert order (index_add_: the same order of sums). `sparse` dispatch runs each expert on the tokens
 * routed to it only (gathered); `dense` runs it on every token, weighted 0 where the token chose another.
 */
export function routedExperts(
  g: ScopedGraph,
  scope: string,
  flat: string,
  { chosen, routing }: Routing,
  count: number,
  dispatch: MoeSpec['dispatch'],
  expert: Expert,
): string {
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const zero = g.cast(scope, g.floats('sae_diff.zero_f32', Float32Array.of(0), []), FLOAT, g.act);
  let out = g.one(scope, 'Expand', [zero, g.one(scope, 'Shape', [flat], [], INT64)]);
  for (let e = 0; e < count; e++) {
    const sc = `${scope}.${e}`;
    const isE = g.one(sc, 'Equal', [chosen, g.int64s(`sae_diff.expert_${e}`, [e], [])], [], BOOL);
    if (dispatch === 'dense') {
      // every token through expert e, times its routing weight for e (0 where the token did not choose e: + 0 is exact)
      const weight = g.one(sc, 'ReduceSum', [g.one(sc, 'Where', [isE, routing, zero]), lastAxis], [intAttr('keepdims', 1)]);
      out = g.one(sc, 'Add', [out, g.one(sc, 'Mul', [expert(sc, flat, e), weight])]);
      continue;
    }
    // (token, slot) of every token that chose expert e, in token order (a token chooses an expert once)
    const hits = g.one(sc, 'NonZero', [isE], [], INT64);
    const pairs = g.one(sc, 'Transpose', [hits], [ints('perm', [1, 0])], INT64);
    const rows = g.one(sc, 'Gather', [hits, g.int64s('sae_diff.zero_i64', [0], [])], [intAttr('axis', 0)], INT64);
    const weight = g.one(sc, 'GatherND', [routing, pairs]);
    const y = expert(sc, g.one(sc, 'Gather', [flat, rows], [intAttr('axis', 0)]), e);
    const weighted = g.one(sc, 'Mul', [y, g.one(sc, 'Unsqueeze', [weight, lastAxis])]);
    out = g.one(sc, 'ScatterND', [out, g.one(sc, 'Unsqueeze', [rows, lastAxis], [], INT64), weighted], [stringAttr('reduction', 'add')]);
  }
  return out;
}

/**
 * DeepSeek's grouped routing on the tokens `flat` [n, hidden], in float32. DeepSeek-V3's (NemotronHTopkRouter,
 * Glm4MoeTopkRouter, DeepseekV3TopkRouter, transformers 5.18): scores sigmoid(x W_gateᵀ); the experts chosen by
 * scores + e_score_correction_bias, among the `topkGroups` of `groups` groups whose two best such scores sum highest.
 * DeepSeek-V2's (DeepseekV2TopkRouter): scores softmax(x W_gateᵀ); the experts chosen by their scores among the
 * groups with the best expert (group_limited_greedy; one group: greedy), the others' scores 0. Then the chosen
 * experts' scores (without the bias), renormalised (+ 1e-20) where norm_topk_prob, times routed_scaling_factor.
 */
export function groupedRouter(
  { g, weights, projections, hidden }: Pick<MoeContext, 'g' | 'weights' | 'projections' | 'hidden'>,
  moe: GroupedRouting,
  scope: string,
  name: string,
  flat: string,
): Routing {
  const f32 = (op: string, inputs: string[], attrs = [] as ReturnType<typeof intAttr>[]) => g.one(scope, op, inputs, attrs, FLOAT);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const logits = g.cast(scope, projections.linearRows(scope, flat, name, moe.experts, false, hidden), g.act, FLOAT);
  const sigmoid = moe.scoring === 'sigmoid';
  const scores = sigmoid ? f32('Sigmoid', [logits]) : f32('Softmax', [logits], [intAttr('axis', -1)]);
  let forChoice = sigmoid
    ? f32('Add', [scores, g.cast(scope, weights.get(`${name}.e_score_correction_bias`, [moe.experts]), g.act, FLOAT)])
    : scores;
  // every group chosen (greedy, or n_group 1): nothing is masked
  if (moe.topkGroups < moe.groups) {
    // each group's two best scores summed (V3) or its best (V2); the topkGroups best groups; the others' experts out
    const perGroup = moe.experts / moe.groups;
    const grouped = f32('Reshape', [forChoice, g.int64s(`sae_diff.expert_groups_${moe.groups}_${perGroup}`, [0, moe.groups, perGroup])]);
    const [best] = topK(g, scope, grouped, sigmoid ? 2 : 1, FLOAT);
    const groupScores = f32('ReduceSum', [best, lastAxis], [intAttr('keepdims', 0)]);
    const [, groupsChosen] = topK(g, scope, groupScores, moe.topkGroups, FLOAT);
    const filled = (value: string, like: string) => f32('Expand', [value, g.one(scope, 'Shape', [like], [], INT64)]);
    const zero = g.floats('sae_diff.zero_f32', Float32Array.of(0), []);
    const ones = filled(g.floats('sae_diff.one_f32', Float32Array.of(1), []), groupsChosen);
    const groupMask = f32('ScatterElements', [filled(zero, groupScores), groupsChosen, ones], [intAttr('axis', 1)]);
    const expertMask = f32('Reshape', [
      f32('Expand', [f32('Unsqueeze', [groupMask, lastAxis]), g.int64s(`sae_diff.group_expand_${perGroup}`, [1, 1, perGroup])]),
      g.int64s(`sae_diff.experts_${moe.experts}`, [0, moe.experts]),
    ]);
    const keep = g.one(scope, 'Greater', [expertMask, zero], [], null);
    // V3 masks with -inf, V2 with 0 (its probabilities are positive: the same choice)
    forChoice = f32('Where', [keep, forChoice, sigmoid ? g.floats('sae_diff.minus_infinity', Float32Array.of(-Infinity), []) : zero]);
  }
  const [top, chosen] = topK(g, scope, forChoice, moe.topK, FLOAT);
  let routing = sigmoid ? f32('GatherElements', [scores, chosen], [intAttr('axis', 1)]) : top;
  if (moe.normalise)
    routing = f32('Div', [
      routing,
      f32('Add', [
        f32('ReduceSum', [routing, lastAxis], [intAttr('keepdims', 1)]),
        g.floats('sae_diff.epsilon_1e-20', Float32Array.of(1e-20), []),
      ]),
    ]);
  routing = f32('Mul', [routing, g.floats(`sae_diff.routed_scaling_${moe.scale}`, Float32Array.of(moe.scale), [])]);
  return { chosen, routing: g.cast(scope, routing, FLOAT, g.act) };
}

/**
 * Ernie4_5_MoeTopKRouter on the tokens `flat` [n, hidden], in float32: probabilities softmax(x W_gateᵀ); the top k
 * of probabilities + moe_statics.e_score_correction_bias ([1, experts] as saved); their probabilities divided by
 * their sum clamped below at moe_norm_min.
 */
function ernieRouter(
  { g, weights, projections, hidden }: MoeContext,
  moe: MoeSpec,
  normMin: number,
  scope: string,
  wn: string,
  flat: string,
): Routing {
  const f32 = (op: string, inputs: string[], attrs = [] as ReturnType<typeof intAttr>[]) => g.one(scope, op, inputs, attrs, FLOAT);
  const logits = g.cast(scope, projections.linearRows(scope, flat, `${wn}.gate`, moe.experts, false, hidden), g.act, FLOAT);
  const probs = f32('Softmax', [logits], [intAttr('axis', -1)]);
  const bias = g.cast(scope, weights.get(`${wn}.moe_statics.e_score_correction_bias`, [1, moe.experts]), g.act, FLOAT);
  const [, chosen] = topK(g, scope, f32('Add', [probs, bias]), moe.topK, FLOAT);
  const top = f32('GatherElements', [probs, chosen], [intAttr('axis', 1)]);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const floor = g.floats(`sae_diff.norm_min_${normMin}`, Float32Array.of(normMin), []);
  const sum = f32('Max', [f32('ReduceSum', [top, lastAxis], [intAttr('keepdims', 1)]), floor]);
  return { chosen, routing: g.cast(scope, f32('Div', [top, sum]), FLOAT, g.act) };
}

/**
 * Lfm2MoeTopKRouter on the tokens `flat` [n, hidden]: scores sigmoid(x W_gateᵀ) in the activations' type; the top k
 * of scores + the block's expert_bias (float32) where it has one; their scores divided by their sum + 1e-6 where
 * norm_topk_prob, times routed_scaling_factor.
 */
function lfm2Router(
  { g, weights, projections, hidden }: MoeContext,
  moe: MoeSpec,
  router: NonNullable<MoeSpec['lfm2Router']>,
  scope: string,
  wn: string,
  flat: string,
): Routing {
  const scores = g.one(scope, 'Sigmoid', [projections.linearRows(scope, flat, `${wn}.gate`, moe.experts, false, hidden)]);
  const forChoice = router.expertBias
    ? g.one(
        scope,
        'Add',
        [g.cast(scope, scores, g.act, FLOAT), g.cast(scope, weights.get(`${wn}.expert_bias`, [moe.experts]), g.act, FLOAT)],
        [],
        FLOAT,
      )
    : scores;
  const [, chosen] = topK(g, scope, forChoice, moe.topK, router.expertBias ? FLOAT : g.act);
  let routing = g.one(scope, 'GatherElements', [scores, chosen], [intAttr('axis', 1)]);
  const constant = (name: string, v: number) => g.cast(scope, g.floats(`sae_diff.${name}`, Float32Array.of(v), []), FLOAT, g.act);
  if (moe.normalise)
    routing = g.one(scope, 'Div', [
      routing,
      g.one(scope, 'Add', [
        g.one(scope, 'ReduceSum', [routing, g.int64s('sae_diff.axis_last', [-1])], [intAttr('keepdims', 1)]),
        constant('epsilon_1e-6', 1e-6),
      ]),
    ]);
  return { chosen, routing: g.one(scope, 'Mul', [routing, constant(`routed_scaling_${router.scale}`, router.scale)]) };
}

/** Each token's chosen experts [n, k] and their routing weights [n, k] in the activations' type. */
export interface Routing {
  chosen: string;
  routing: string;
}

/** Mixtral's router and its kin's: softmax over all experts in float32, the top k, renormalised where the config says. */
function softmaxRouter({ g, projections, hidden }: MoeContext, moe: MoeSpec, scope: string, wn: string, flat: string): Routing {
  const logits = projections.linearRows(`${scope}/gate`, flat, `${wn}.gate`, moe.experts, false, hidden);
  const probs = g.one(`${scope}/gate`, 'Softmax', [g.cast(`${scope}/gate`, logits, g.act, FLOAT)], [intAttr('axis', -1)], FLOAT);
  const [top, chosen] = topK(g, `${scope}/gate`, probs, moe.topK, FLOAT);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const weightsF = moe.normalise
    ? g.one(`${scope}/gate`, 'Div', [top, g.one(`${scope}/gate`, 'ReduceSum', [top, lastAxis], [intAttr('keepdims', 1)], FLOAT)], [], FLOAT)
    : top;
  return { chosen, routing: g.cast(`${scope}/gate`, weightsF, FLOAT, g.act) };
}

/**
 * The routers of fused experts: the top k of the logits, softmaxed over those k. GptOssTopKRouter: logits
 * x W_routerᵀ + b, all in the activations' type; GraniteMoeHybridTopKRouter: logits x W_routerᵀ (`router.layer`
 * as saved) in float32, the weights cast back to the activations' type.
 */
function topKRouter({ g, projections, hidden }: MoeContext, moe: MoeSpec, scope: string, wn: string, flat: string): Routing {
  const router = `${scope}/router`;
  const gptOss = moe.fused === 'gpt_oss';
  const logits = projections.linearRows(router, flat, gptOss ? `${wn}.router` : `${wn}.router.layer`, moe.experts, gptOss, hidden);
  if (gptOss) {
    const [top, chosen] = topK(g, router, logits, moe.topK, g.act);
    return { chosen, routing: g.one(router, 'Softmax', [top], [intAttr('axis', -1)]) };
  }
  const [top, chosen] = topK(g, router, g.cast(router, logits, g.act, FLOAT), moe.topK, FLOAT);
  return { chosen, routing: g.cast(router, g.one(router, 'Softmax', [top], [intAttr('axis', -1)], FLOAT), FLOAT, g.act) };
}

function topK(g: ScopedGraph, scope: string, scores: string, k: number, type: number): [string, string] {
  const [top, chosen] = g.op(scope, 'TopK', [scores, g.int64s(`sae_diff.moe_top_${k}`, [k])], [intAttr('axis', -1)], 2, null);
  g.types.set(top, type);
  g.types.set(chosen, INT64);
  return [top, chosen];
}

/** An expert's output for its tokens `rows` [n, hidden]. */
export type Expert = (scope: string, rows: string, e: number) => string;

/**
 * Mixtral's experts and their kin's: each its own gate, up and down projections, as saved; a LoRA on the parameters
 * transformers 5 fuses them into in memory (`experts.gate_up_proj` [experts, 2 · intermediate, hidden], gate then
 * up, and `experts.down_proj`: PEFT's target_parameters) adds each expert's slice of its delta to its weights.
 */
function swigluExperts(ctx: MoeContext, moe: MoeSpec, scope: string, wn: string): Expert {
  const { g, projections, hidden } = ctx;
  const width = moe.intermediate;
  const lora = `${scope}/experts`;
  const gateUp = projections.parameterDelta(lora, `${wn}.experts.gate_up_proj`, moe.experts, hidden, 2 * width, 'out_in');
  const down = projections.parameterDelta(lora, `${wn}.experts.down_proj`, moe.experts, width, hidden, 'out_in');
  return (sc, rows, e) => {
    let deltas: ExpertDeltas | undefined;
    if (gateUp || down) {
      const own = (t: string | undefined) => t && expertSlice(g, sc, t, e);
      const [gate, up] = gateUp ? g.op(sc, 'Split', [own(gateUp)!], [intAttr('axis', 0)], 2, FLOAT) : [undefined, undefined];
      deltas = { gate, up, down: own(down) };
    }
    return swiglu(ctx, moe, sc, rows, `${wn}.experts.${e}`, width, false, deltas);
  };
}

/** A parameter LoRA's delta on one expert's gate, up and down weights (float32, [out, in]). */
interface ExpertDeltas {
  gate?: string;
  up?: string;
  down?: string;
}

/** down(silu(gate(x)) · up(x)) of the projections under `name` (Mixtral's w1 / w3 / w2), with biases where `bias`. */
function swiglu(
  { g, projections, hidden, silu }: MoeContext,
  moe: MoeSpec,
  sc: string,
  rows: string,
  name: string,
  width: number,
  bias = false,
  deltas: ExpertDeltas = {},
): string {
  const [gateName, upName, downName] = moe.mixtralNames ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  const gate = projections.linearRows(`${sc}/${gateName}`, rows, `${name}.${gateName}`, width, bias, hidden, 'linear', deltas.gate);
  const up = projections.linearRows(`${sc}/${upName}`, rows, `${name}.${upName}`, width, bias, hidden, 'linear', deltas.up);
  const activated = g.one(sc, 'Mul', [silu(`${sc}/act_fn`, gate), up]);
  return projections.linearRows(`${sc}/${downName}`, activated, `${name}.${downName}`, hidden, bias, width, 'linear', deltas.down);
}

/**
 * GptOssExperts (modeling_gpt_oss.py, transformers 5.18): the experts' weights fused, gate_up_proj [experts, hidden,
 * 2 · intermediate] (x @ W, not x Wᵀ) with its bias, its columns gate and up interleaved (gate_up[..., ::2],
 * gate_up[..., 1::2]); gate clamped above at 7, up to ±7 (its `limit`, fixed in the class); (up + 1) · gate ·
 * sigmoid(1.702 · gate); then @ down_proj [experts, intermediate, hidden] + its bias. Weights stored in MXFP4
 * (`*_blocks`, `*_scales`: the release's) are dequantised as transformers dequantises them (mxfp4.ts); a LoRA on
 * them (PEFT's target_parameters) is added to them (graphParts.ts Projections.parameter).
 */
function gptOssExperts({ g, weights, projections, hidden }: MoeContext, moe: MoeSpec, scope: string, wn: string): Expert {
  const width = moe.intermediate;
  // the weight as stored, dense or MXFP4, plus a LoRA on it (PEFT's target_parameters) where the adapter has one
  const weight = (projection: string, inputs: number, outputs: number) => {
    const name = `${wn}.experts.${projection}`;
    const stored = weights.shapeOf(`${name}_blocks`)
      ? g.cast('/model/weights', mxfp4Weight(g, weights, name, moe.experts, inputs, outputs), FLOAT, g.act)
      : weights.get(name, [moe.experts, inputs, outputs]);
    return projections.parameter(`${scope}/experts/${projection}`, name, stored, moe.experts, inputs, outputs);
  };
  const gateUp = weight('gate_up_proj', hidden, 2 * width);
  const gateUpBias = weights.get(`${wn}.experts.gate_up_proj_bias`, [moe.experts, 2 * width]);
  const down = weight('down_proj', width, hidden);
  const downBias = weights.get(`${wn}.experts.down_proj_bias`, [moe.experts, hidden]);
  const constant = (name: string, v: number) => g.cast('/model', g.floats(`sae_diff.${name}`, Float32Array.of(v), []), FLOAT, g.act);
  const limit = constant('gpt_oss_limit', GPT_OSS_LIMIT);
  const negativeLimit = constant('gpt_oss_negative_limit', -GPT_OSS_LIMIT);
  const alpha = constant('gpt_oss_alpha', GPT_OSS_ALPHA);
  const one = constant('one_f32', 1);
  const pairs = g.int64s(`sae_diff.gate_up_pairs_${width}`, [0, width, 2]);
  const rowsOf = g.int64s(`sae_diff.rows_${width}`, [0, width]);
  return (sc, rows, e) => {
    const own = (t: string) => expertSlice(g, sc, t, e);
    const gateUpOut = g.one(sc, 'Add', [g.one(sc, 'MatMul', [rows, own(gateUp)]), own(gateUpBias)]);
    const [gatePart, upPart] = g.op(sc, 'Split', [g.one(sc, 'Reshape', [gateUpOut, pairs])], [intAttr('axis', -1)], 2);
    const gate = g.one(sc, 'Min', [g.one(sc, 'Reshape', [gatePart, rowsOf]), limit]);
    const up = g.one(sc, 'Max', [g.one(sc, 'Min', [g.one(sc, 'Reshape', [upPart, rowsOf]), limit]), negativeLimit]);
    const glu = g.one(sc, 'Mul', [gate, g.one(sc, 'Sigmoid', [g.one(sc, 'Mul', [gate, alpha])])]);
    const activated = g.one(sc, 'Mul', [g.one(sc, 'Add', [up, one]), glu]);
    return g.one(sc, 'Add', [g.one(sc, 'MatMul', [activated, own(down)]), own(downBias)]);
  };
}

/**
 * Fused experts stored as Linear weights: gate_up [experts, 2 · intermediate, hidden], x W_eᵀ chunked into gate then
 * up, act(gate) · up, times W_downᵀ ([experts, hidden, intermediate]). GraniteMoeHybridExperts (transformers 5.18;
 * saved as `block_sparse_moe.input_linear.weight` / `output_linear.weight`, the names the hub's checkpoints have and
 * transformers writes back; SiLU), Gemma4TextExperts (`experts.gate_up_proj` / `down_proj`; GELU tanh) and
 * Qwen3VLMoeTextExperts (SiLU), whose release stores each weight transposed ([experts, hidden, 2 · intermediate],
 * [experts, intermediate, hidden]): transformers transposes a weight unless its shape is the Linear one
 * (conversion_mapping.py qwen3_vl_moe, Transpose(1, 2, check_dims=True)), and so is it read here.
 */
function chunkedExperts(
  { g, weights, hidden }: MoeContext,
  moe: MoeSpec,
  gateUpName: string,
  downName: string,
  act: (scope: string, t: string) => string,
): Expert {
  const width = moe.intermediate;
  // [experts, out, in] (x Wᵀ), else [experts, in, out] (x W)
  const weight = (name: string, outputs: number, inputs: number) => {
    const shape = weights.shapeOf(name);
    const linear = !shape || (shape[1] === outputs && shape[2] === inputs);
    return { name: weights.get(name, linear ? [moe.experts, outputs, inputs] : [moe.experts, inputs, outputs]), linear };
  };
  const gateUp = weight(gateUpName, 2 * width, hidden);
  const down = weight(downName, hidden, width);
  return (sc, rows, e) => {
    const times = (x: string, w: { name: string; linear: boolean }) => {
      const own = expertSlice(g, sc, w.name, e);
      return w.linear ? g.one(sc, 'Gemm', [x, own], [intAttr('transB', 1)]) : g.one(sc, 'MatMul', [x, own]);
    };
    const [gate, up] = g.op(sc, 'Split', [times(rows, gateUp)], [intAttr('axis', -1)], 2);
    return times(g.one(sc, 'Mul', [act(`${sc}/act_fn`, gate), up]), down);
  };
}

/**
 * Gemma4TextRouter on its normalised input `flat` [n, hidden]: times `router.scale` and hidden_size^-0.5, `proj`,
 * softmax over all experts in float32, the top k renormalised to sum 1 and times their `per_expert_scale`.
 */
function gemma4Router({ g, weights, projections, hidden }: MoeContext, moe: MoeSpec, scope: string, wn: string, flat: string): Routing {
  const router = `${scope}/router`;
  const root = g.cast(
    router,
    g.floats(`sae_diff.root_size_${hidden}`, Float32Array.of(Math.fround(Math.pow(hidden, -0.5))), []),
    FLOAT,
    g.act,
  );
  const scaled = g.one(router, 'Mul', [g.one(router, 'Mul', [flat, weights.get(`${wn}.router.scale`, [hidden])]), root]);
  const logits = projections.linearRows(`${router}/proj`, scaled, `${wn}.router.proj`, moe.experts, false, hidden);
  const probs = g.one(router, 'Softmax', [g.cast(router, logits, g.act, FLOAT)], [intAttr('axis', -1)], FLOAT);
  const [top, chosen] = topK(g, router, probs, moe.topK, FLOAT);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const normalised = g.one(router, 'Div', [top, g.one(router, 'ReduceSum', [top, lastAxis], [intAttr('keepdims', 1)], FLOAT)], [], FLOAT);
  const perExpert = g.cast(router, weights.get(`${wn}.router.per_expert_scale`, [moe.experts]), g.act, FLOAT);
  const weighted = g.one(router, 'Mul', [normalised, g.one(router, 'Gather', [perExpert, chosen], [], FLOAT)], [], FLOAT);
  return { chosen, routing: g.cast(router, weighted, FLOAT, g.act) };
}

/** Expert e's weight of fused experts' `t` [experts, ...]: its slice [...] (ONNX Runtime folds it at session creation). */
function expertSlice(g: ScopedGraph, scope: string, t: string, e: number): string {
  return g.one(scope, 'Gather', [t, g.int64s(`sae_diff.expert_${e}`, [e], [])], [intAttr('axis', 0)]);
}

/** GptOssExperts' alpha (fixed in the class, as its limit is). */
const GPT_OSS_ALPHA = 1.702;

function stringAttr(name: string, value: string): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
}
