/**
 * Nemotron-H's mixture-of-experts mixer (Nemotron 3's "moe" blocks), as transformers 5.18 runs it
 * (modeling_nemotron_h.py NemotronHMoE, NemotronHTopkRouter, NemotronHExperts), in float32:
 * - router: scores sigmoid(x W_gateᵀ); the experts chosen by scores + e_score_correction_bias, among the `topkGroups`
 *   of `groups` groups whose two best such scores sum highest; the chosen experts' scores (without the bias),
 *   renormalised (+ 1e-20) where norm_topk_prob, times routed_scaling_factor;
 * - experts (saved one tensor per projection, `mixer.experts.{e}.up_proj` / `down_proj`, which transformers merges in
 *   memory): down(relu(up(x))²), no gate, on the latent projection of x where moe_latent_size is set
 *   (fc1_latent_proj before, fc2_latent_proj after);
 * - plus the shared experts: down(relu(up(x))²) of the mixer's input.
 */
import { intAttr } from '../onnxGraph';
import { routedExperts, topK, type Expert, type MoeContext } from './moeBlock';
import type { NemotronMoeSpec } from './nemotronHConfig';
import { FLOAT, INT64 } from './scopedGraph';

/** moeBlock.ts's context, less the SwiGLU's activation (Nemotron's experts are relu², ungated). */
export type NemotronMoeContext = Omit<MoeContext, 'silu'>;

/** The mixer's output for `x` [B, S, hidden] (the block's normed input), its scope `mixer`, its weights under `w`. */
export function nemotronMoe(ctx: NemotronMoeContext, moe: NemotronMoeSpec, mixer: string, w: string, x: string): string {
  const { g, projections, hidden } = ctx;
  const flat = g.one(mixer, 'Reshape', [x, ctx.flatShape]);
  const routing = groupedSigmoidRouter(ctx, moe, `${mixer}/gate`, `${w}.mixer.gate`, flat);
  const width = moe.latent ?? hidden;
  const toLatent = (t: string) =>
    moe.latent === undefined
      ? t
      : projections.linearRows(`${mixer}/fc1_latent_proj`, t, `${w}.mixer.fc1_latent_proj`, width, moe.bias, hidden);
  const fromLatent = (t: string) =>
    moe.latent === undefined
      ? t
      : projections.linearRows(`${mixer}/fc2_latent_proj`, t, `${w}.mixer.fc2_latent_proj`, hidden, moe.bias, width);
  const expert: Expert = (sc, rows, e) => relu2Mlp(ctx, sc, rows, `${w}.mixer.experts.${e}`, moe.intermediate, width, false);
  const routed = fromLatent(routedExperts(g, `${mixer}/experts`, toLatent(flat), routing, moe.experts, moe.dispatch, expert));
  const shared = relu2Mlp(ctx, `${mixer}/shared_experts`, flat, `${w}.mixer.shared_experts`, moe.sharedIntermediate, hidden, moe.bias);
  return g.one(mixer, 'Reshape', [g.one(mixer, 'Add', [routed, shared]), ctx.batchShape]);
}

/** NemotronHMLP's computation on rows [n, width]: down_proj(relu(up_proj(x))²). */
function relu2Mlp(
  { g, projections }: NemotronMoeContext,
  scope: string,
  rows: string,
  name: string,
  intermediate: number,
  width: number,
  bias: boolean,
): string {
  const up = g.one(scope, 'Relu', [projections.linearRows(`${scope}/up_proj`, rows, `${name}.up_proj`, intermediate, bias, width)]);
  return projections.linearRows(`${scope}/down_proj`, g.one(scope, 'Mul', [up, up]), `${name}.down_proj`, width, bias, intermediate);
}

/** NemotronHTopkRouter (DeepSeek-V3's grouped routing) on the tokens `flat` [n, hidden]. */
function groupedSigmoidRouter(
  { g, weights, projections, hidden }: NemotronMoeContext,
  moe: NemotronMoeSpec,
  scope: string,
  name: string,
  flat: string,
): { chosen: string; routing: string } {
  const f32 = (op: string, inputs: string[], attrs = [] as ReturnType<typeof intAttr>[]) => g.one(scope, op, inputs, attrs, FLOAT);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);
  const scores = f32('Sigmoid', [projections.linearRows(scope, flat, name, moe.experts, false, hidden)]);
  const forChoice = f32('Add', [scores, weights.get(`${name}.e_score_correction_bias`, [moe.experts])]);
  // each group's two best scores, summed; the topkGroups best groups; the other groups' experts out of the choice
  const perGroup = moe.experts / moe.groups;
  const grouped = f32('Reshape', [forChoice, g.int64s(`sae_diff.expert_groups_${moe.groups}_${perGroup}`, [0, moe.groups, perGroup])]);
  const [bestTwo] = topK(g, scope, grouped, 2, FLOAT);
  const groupScores = f32('ReduceSum', [bestTwo, lastAxis], [intAttr('keepdims', 0)]);
  const [, groupsChosen] = topK(g, scope, groupScores, moe.topkGroups, FLOAT);
  const filled = (value: string, like: string) => f32('Expand', [value, g.one(scope, 'Shape', [like], [], INT64)]);
  const zeros = filled(g.floats('sae_diff.zero_f32', Float32Array.of(0), []), groupScores);
  const ones = filled(g.floats('sae_diff.one_f32', Float32Array.of(1), []), groupsChosen);
  const groupMask = f32('ScatterElements', [zeros, groupsChosen, ones], [intAttr('axis', 1)]);
  const expertMask = f32('Reshape', [
    f32('Expand', [f32('Unsqueeze', [groupMask, lastAxis]), g.int64s(`sae_diff.group_expand_${perGroup}`, [1, 1, perGroup])]),
    g.int64s(`sae_diff.experts_${moe.experts}`, [0, moe.experts]),
  ]);
  const keep = g.one(scope, 'Greater', [expertMask, g.floats('sae_diff.zero_f32', Float32Array.of(0), [])], [], null);
  const masked = f32('Where', [keep, forChoice, g.floats('sae_diff.minus_infinity', Float32Array.of(-Infinity), [])]);
  const [, chosen] = topK(g, scope, masked, moe.topK, FLOAT);
  let routing = f32('GatherElements', [scores, chosen], [intAttr('axis', 1)]);
  if (moe.normalise)
    routing = f32('Div', [
      routing,
      f32('Add', [
        f32('ReduceSum', [routing, lastAxis], [intAttr('keepdims', 1)]),
        g.floats('sae_diff.epsilon_1e-20', Float32Array.of(1e-20), []),
      ]),
    ]);
  routing = f32('Mul', [routing, g.floats(`sae_diff.routed_scaling_${moe.scale}`, Float32Array.of(moe.scale), [])]);
  return { chosen, routing };
}
