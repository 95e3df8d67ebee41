/**
 * The sparse mixture-of-experts block of Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE checkpoints (decoderConfig.ts's
 * MoeSpec), as transformers 5.18 runs it (modeling_mixtral.py MixtralTopKRouter / MixtralExperts and their Qwen and
 * OLMoE copies):
 * - router: probabilities softmax(x W_gateᵀ) in float32, the top k of each token (renormalised to sum 1 where the
 *   spec says), in the activations' type;
 * - experts, in ascending order: down(silu(gate(x)) · up(x)) times the token's routing weight, added into the block's
 *   output at the token's row (index_add_: the same order of sums). `sparse` dispatch runs each expert on the tokens
 *   routed to it only (gathered, so a token costs k experts, not all); `dense` runs it on every token, weighted 0
 *   where the token chose another (for models with many experts: decoderConfig.ts's MAX_GATHERED_EXPERTS);
 * - Qwen2-MoE and Qwen 3.5-MoE: plus the shared expert times sigmoid(x W_shared_gateᵀ).
 * The nodes sit in the block's module scope (`/model/layers.3/mlp`, Mixtral's `/model/layers.3/block_sparse_moe`), its
 * output being what the residual sum adds (the mlp_out hook).
 */
import { onnx } from 'onnx-proto';
import { intAttr, TensorDataType } from '../onnxGraph';
import type { MoeSpec } from './decoderConfig';
import type { Projections } from './graphParts';
import { FLOAT, INT64, ints, type ScopedGraph } from './scopedGraph';

export interface MoeContext {
  g: ScopedGraph;
  projections: Projections;
  hidden: number;
  /** x -> [n, hidden] and back to the batch's [B, S, hidden]. */
  flatShape: string;
  batchShape: string;
  silu(scope: string, t: string): string;
}

const BOOL = TensorDataType.BOOL;

/** The MoE block's output for `x` [B, S, hidden] (the normed input of the MLP) of the layer whose weights start with `w`. */
export function moeBlock(ctx: MoeContext, moe: MoeSpec, block: string, w: string, x: string): string {
  const { g, projections, hidden, silu } = ctx;
  const module = moe.mixtralNames ? 'block_sparse_moe' : 'mlp';
  const scope = `${block}/${module}`;
  const wn = `${w}.${module}`;
  const [gateName, upName, downName] = moe.mixtralNames ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  const flat = g.one(scope, 'Reshape', [x, ctx.flatShape]);
  const lastAxis = g.int64s('sae_diff.axis_last', [-1]);

  // router: softmax over all experts in float32, the top k, renormalised where the config says
  const logits = projections.linearRows(`${scope}/gate`, flat, `${wn}.gate`, moe.experts, false, hidden);
  const probs = g.one(`${scope}/gate`, 'Softmax', [g.cast(`${scope}/gate`, logits, g.act, FLOAT)], [intAttr('axis', -1)], FLOAT);
  const [top, chosen] = g.op(
    `${scope}/gate`,
    'TopK',
    [probs, g.int64s(`sae_diff.moe_top_${moe.topK}`, [moe.topK])],
    [intAttr('axis', -1)],
    2,
    null,
  );
  g.types.set(top, FLOAT);
  g.types.set(chosen, INT64);
  const weightsF = moe.normalise
    ? g.one(`${scope}/gate`, 'Div', [top, g.one(`${scope}/gate`, 'ReduceSum', [top, lastAxis], [intAttr('keepdims', 1)], FLOAT)], [], FLOAT)
    : top;
  const routing = g.cast(`${scope}/gate`, weightsF, FLOAT, g.act);

  const experts = `${scope}/experts`;
  const zero = g.cast(experts, g.floats('sae_diff.zero_f32', Float32Array.of(0), []), FLOAT, g.act);
  let out = g.one(experts, 'Expand', [zero, g.one(experts, 'Shape', [flat], [], INT64)]);
  const swiglu = (sc: string, rows: string, name: string, width: number) => {
    const gate = projections.linearRows(`${sc}/${gateName}`, rows, `${name}.${gateName}`, width, false, hidden);
    const up = projections.linearRows(`${sc}/${upName}`, rows, `${name}.${upName}`, width, false, hidden);
    return projections.linearRows(
      `${sc}/${downName}`,
      g.one(sc, 'Mul', [silu(`${sc}/act_fn`, gate), up]),
      `${name}.${downName}`,
      hidden,
      false,
      width,
    );
  };
  for (let e = 0; e < moe.experts; e++) {
    const sc = `${experts}.${e}`;
    const isE = g.one(sc, 'Equal', [chosen, g.int64s(`sae_diff.expert_${e}`, [e], [])], [], BOOL);
    if (moe.dispatch === 'dense') {
      // every token through expert e, times its routing weight for e (0 where the token did not choose e: + 0 is exact)
      const weight = g.one(sc, 'ReduceSum', [g.one(sc, 'Where', [isE, routing, zero]), lastAxis], [intAttr('keepdims', 1)]);
      out = g.one(sc, 'Add', [out, g.one(sc, 'Mul', [swiglu(sc, flat, `${wn}.experts.${e}`, moe.intermediate), weight])]);
      continue;
    }
    // (token, slot) of every token that chose expert e, in token order (a token chooses an expert once)
    const hits = g.one(sc, 'NonZero', [isE], [], INT64);
    const pairs = g.one(sc, 'Transpose', [hits], [ints('perm', [1, 0])], INT64);
    const rows = g.one(sc, 'Gather', [hits, g.int64s('sae_diff.zero_i64', [0], [])], [intAttr('axis', 0)], INT64);
    const weight = g.one(sc, 'GatherND', [routing, pairs]);
    const y = swiglu(sc, g.one(sc, 'Gather', [flat, rows], [intAttr('axis', 0)]), `${wn}.experts.${e}`, moe.intermediate);
    const weighted = g.one(sc, 'Mul', [y, g.one(sc, 'Unsqueeze', [weight, lastAxis])]);
    out = g.one(sc, 'ScatterND', [out, g.one(sc, 'Unsqueeze', [rows, lastAxis], [], INT64), weighted], [stringAttr('reduction', 'add')]);
  }
  if (moe.sharedIntermediate !== undefined) {
    // Qwen2MoeSparseMoeBlock, Qwen3_5MoeSparseMoeBlock: experts' output + sigmoid(shared_expert_gate(x)) * shared_expert(x)
    const shared = swiglu(`${scope}/shared_expert`, flat, `${wn}.shared_expert`, moe.sharedIntermediate);
    const gate = g.one(scope, 'Sigmoid', [
      projections.linearRows(`${scope}/shared_expert_gate`, flat, `${wn}.shared_expert_gate`, 1, false, hidden),
    ]);
    out = g.one(scope, 'Add', [out, g.one(scope, 'Mul', [gate, shared])]);
  }
  return g.one(scope, 'Reshape', [out, ctx.batchShape]);
}

function stringAttr(name: string, value: string): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
}
