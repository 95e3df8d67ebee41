/**
 * Nemotron-H's mixture-of-experts mixer (Nemotron 3's "moe" blocks), as transformers 5.18 runs it
 * (modeling_nemotron_h.py NemotronHMoE, NemotronHTopkRouter, NemotronHExperts), in float32:
 * - router: DeepSeek-V3's grouped sigmoid routing (moeBlock.ts groupedRouter);
 * - experts (saved one tensor per projection, `mixer.experts.{e}.up_proj` / `down_proj`, which transformers merges in
 *   memory): down(relu(up(x))²), no gate, on the latent projection of x where moe_latent_size is set
 *   (fc1_latent_proj before, fc2_latent_proj after);
 * - plus the shared experts: down(relu(up(x))²) of the mixer's input.
 */
import { groupedRouter, routedExperts, type Expert, type MoeContext } from './moeBlock';
import type { NemotronMoeSpec } from './nemotronHConfig';

/** moeBlock.ts's context, less the SwiGLU's activation (Nemotron's experts are relu², ungated). */
export type NemotronMoeContext = Omit<MoeContext, 'silu'>;

/** The mixer's output for `x` [B, S, hidden] (the block's normed input), its scope `mixer`, its weights under `w`. */
export function nemotronMoe(ctx: NemotronMoeContext, moe: NemotronMoeSpec, mixer: string, w: string, x: string): string {
  const { g, projections, hidden } = ctx;
  const flat = g.one(mixer, 'Reshape', [x, ctx.flatShape]);
  const routing = groupedRouter(ctx, moe, `${mixer}/gate`, `${w}.mixer.gate`, flat);
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
