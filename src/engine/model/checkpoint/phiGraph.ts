/**
 * The ONNX graph of a Phi-1 / 1.5 / 2 checkpoint (phiConfig.ts), built in memory from its config.json and safetensors
 * headers, the weights external data pointing into the safetensors files in place, as decoderGraph.ts does.
 *
 * The forward pass is transformers 5.18's modeling_phi.py, eager attention, in float32 (half weights widened):
 * - the input: embed_tokens(input_ids);
 * - each block (parallel, one norm): h = input_layernorm(x); attn(h) + mlp(h) + x, summed in that order;
 * - attention: q_proj, k_proj, v_proj with biases; with qk_layernorm, a LayerNorm over each head's q and k; RoPE on
 *   each head's first rotary_ndims dims (rotate_half); softmax(q kᵀ · head_dim^-0.5 + mask) in float32, v; dense;
 * - MLP: fc2(act(fc1(h))), act gelu_new (Phi-2's) or another of configKeys.ts's.
 *
 * Nodes carry the scopes torch.onnx's TorchScript exporter writes (`/model/layers.3/self_attn/...`, the block's sums
 * `/model/layers.3/Add` and `Add_1`), so model/hooks.ts finds resid_pre, resid_post, attn_out and mlp_out as in an
 * export (the parallel block has no resid_mid). The graph ends at the last block (no final_layernorm, no lm_head).
 */
import type { ModelProto } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import { attention, decoderModel, layerNorm, mlpActivationOp, partialRotary, startGraph } from './graphParts';
import type { LoraAdapter } from './loraAdapter';
import type { PhiSpec } from './phiConfig';
import { FLOAT, ints } from './scopedGraph';

/** Builds the graph; its external data locations are relative to `externalDataFolder` (graphParts.ts startGraph). */
export function buildPhiGraph(
  spec: PhiSpec,
  files: CheckpointFiles,
  configFile: string,
  adapter?: LoraAdapter,
): { model: ModelProto; externalDataFolder: string } {
  const { g, weights, frame, projections, externalDataFolder } = startGraph(spec, files, configFile, adapter, FLOAT, '/model');
  const { hidden, heads, headDim, intermediate } = spec;
  const { rotary, tables, scale } = partialRotary(g, '/model/rotary_emb', spec);
  const prefix = weights.prefix;
  const activation = (scope: string, t: string) => mlpActivationOp(g, spec.activation, scope, t);

  // gathered as stored, only the rows widened (a half table stays half in memory)
  const table = weights.stored(weights.embedding, [-1, hidden]);
  const rows = g.one('/model/embed_tokens', 'Gather', [table.name, 'input_ids'], [], table.dataType);
  let x = g.cast('/model/embed_tokens', rows, table.dataType, FLOAT);
  const perHead = g.int64s('sae_diff.heads', [0, 0, heads, headDim]);
  for (let l = 0; l < spec.layers; l++) {
    const block = `/model/layers.${l}`;
    const w = `${prefix}layers.${l}`;
    const attn = `${block}/self_attn`;
    const normed = layerNorm(g, weights, `${block}/input_layernorm`, x, `${w}.input_layernorm`, hidden, spec.layerNormEps);
    /** A projection's [B, S, heads · head_dim] as [B, heads, S, head_dim], per-head LayerNorm'd when asked. */
    const headsOf = (name: 'q_proj' | 'k_proj' | 'v_proj', norm?: string) => {
      const y = projections.linear(`${attn}/${name}`, normed, `${w}.self_attn.${name}`, heads * headDim, true, hidden);
      const split = g.one(attn, 'Transpose', [g.one(attn, 'Reshape', [y, perHead])], [ints('perm', [0, 2, 1, 3])]);
      return norm ? layerNorm(g, weights, `${attn}/${norm}`, split, `${w}.self_attn.${norm}`, headDim, spec.layerNormEps) : split;
    };
    const q = rotary.apply(attn, headsOf('q_proj', spec.qkLayerNorm ? 'q_layernorm' : undefined), tables);
    const k = rotary.apply(attn, headsOf('k_proj', spec.qkLayerNorm ? 'k_layernorm' : undefined), tables);
    const merged = attention(g, frame, attn, q, k, headsOf('v_proj'), scale, heads * headDim);
    const attnOut = projections.linear(`${attn}/dense`, merged, `${w}.self_attn.dense`, hidden, true, heads * headDim);
    const mlp = `${block}/mlp`;
    const up = projections.linear(`${mlp}/fc1`, normed, `${w}.mlp.fc1`, intermediate, true, hidden);
    const down = projections.linear(`${mlp}/fc2`, activation(`${mlp}/activation_fn`, up), `${w}.mlp.fc2`, hidden, true, intermediate);
    // attn_outputs + feed_forward_hidden_states + residual
    x = g.one(block, 'Add', [g.one(block, 'Add', [attnOut, down]), x]);
  }
  weights.checkAllUsed();
  projections.checkAdapterUsed(spec.family);
  return { model: decoderModel(g, weights, files, x), externalDataFolder };
}
