/**
 * The ONNX graph of a GPT-NeoX checkpoint (gptNeoxConfig.ts: Pythia and kin), built in memory from its config.json
 * and safetensors headers, the weights external data pointing into the safetensors files in place, as
 * decoderGraph.ts does for Llama's kin.
 *
 * The forward pass is transformers 5.18's modeling_gpt_neox.py, eager attention, in float32 (float16 and bfloat16
 * weights widened; the embedding table only by the rows gathered):
 * - the input: embed_in(input_ids); no position embeddings;
 * - each block, parallel (use_parallel_residual): mlp(post_attention_layernorm(x)) + attention(input_layernorm(x)) + x;
 *   sequential: h = attention(input_layernorm(x)) + x, then mlp(post_attention_layernorm(h)) + h; both norms
 *   nn.LayerNorm with biases;
 * - attention: query_key_value's output viewed [.., heads, 3 · head_size] and chunked into q, k, v per head (not three
 *   blocks of rows); RoPE on each head's first rotary_ndims dims; softmax(q kᵀ · head_size^-0.5 + mask) v; dense;
 * - MLP: dense_4h_to_h(act(dense_h_to_4h(x))), act exact GELU (Pythia), GELU's tanh approximation or ReLU.
 *
 * Nodes carry the scopes torch.onnx's TorchScript exporter writes (`/gpt_neox/layers.3/attention/...`, the block's
 * sums `/gpt_neox/layers.3/Add` and `Add_1`), so model/hooks.ts finds every hook point as in an export (a parallel
 * block has no resid_mid). The graph ends at the last block (no final_layer_norm, no embed_out).
 */
import { intAttr, type ModelProto } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import type { GptNeoxSpec } from './gptNeoxConfig';
import { attention, decoderModel, layerNorm, mlpActivationOp, partialRotary, startGraph } from './graphParts';
import type { LoraAdapter } from './loraAdapter';
import { FLOAT, ints } from './scopedGraph';

/** Builds the graph; its external data locations are relative to `externalDataFolder` (see decoderGraph.ts). */
export function buildGptNeoxGraph(
  spec: GptNeoxSpec,
  files: CheckpointFiles,
  configFile: string,
  adapter?: LoraAdapter,
): { model: ModelProto; externalDataFolder: string } {
  const { g, weights, frame, projections, externalDataFolder } = startGraph(spec, files, configFile, adapter, FLOAT, '/gpt_neox');
  const { hidden, heads, headDim, intermediate } = spec;
  const { rotary, tables, scale } = partialRotary(g, '/gpt_neox/rotary_emb', spec);
  const prefix = weights.prefix;
  const norm = (scope: string, x: string, name: string) => layerNorm(g, weights, scope, x, name, hidden, spec.layerNormEps);
  const activation = (scope: string, t: string) => mlpActivationOp(g, spec.activation, scope, t);

  // gathered as stored, only the rows widened (a half table stays half in memory)
  const table = weights.stored(weights.embedding, [-1, hidden]);
  let x = g.cast(
    '/gpt_neox/embed_in',
    g.one('/gpt_neox/embed_in', 'Gather', [table.name, 'input_ids'], [], table.dataType),
    table.dataType,
    FLOAT,
  );
  const perHead = g.int64s('sae_diff.qkv_heads', [0, 0, heads, 3 * headDim]);
  for (let l = 0; l < spec.layers; l++) {
    const block = `/gpt_neox/layers.${l}`;
    const w = `${prefix}layers.${l}`;
    const attn = `${block}/attention`;
    const qkv = projections.linear(
      `${attn}/query_key_value`,
      norm(`${block}/input_layernorm`, x, `${w}.input_layernorm`),
      `${w}.attention.query_key_value`,
      3 * hidden,
      spec.attentionBias,
      hidden,
    );
    // view(.., heads, 3 · head_size).transpose(1, 2).chunk(3, -1): each head's q, k, v are consecutive
    const byHead = g.one(attn, 'Transpose', [g.one(attn, 'Reshape', [qkv, perHead])], [ints('perm', [0, 2, 1, 3])]);
    const [q, k, v] = g.op(attn, 'Split', [byHead], [intAttr('axis', -1)], 3);
    const merged = attention(g, frame, attn, rotary.apply(attn, q, tables), rotary.apply(attn, k, tables), v, scale, hidden);
    const attnOut = projections.linear(`${attn}/dense`, merged, `${w}.attention.dense`, hidden, spec.attentionBias, hidden);
    const mlp = (input: string) => {
      const scope = `${block}/mlp`;
      const up = projections.linear(
        `${scope}/dense_h_to_4h`,
        norm(`${block}/post_attention_layernorm`, input, `${w}.post_attention_layernorm`),
        `${w}.mlp.dense_h_to_4h`,
        intermediate,
        true,
        hidden,
      );
      return projections.linear(
        `${scope}/dense_4h_to_h`,
        activation(`${scope}/act`, up),
        `${w}.mlp.dense_4h_to_h`,
        hidden,
        true,
        intermediate,
      );
    };
    if (spec.parallelResidual) {
      x = g.one(block, 'Add', [g.one(block, 'Add', [mlp(x), attnOut]), x]);
    } else {
      const mid = g.one(block, 'Add', [attnOut, x]);
      x = g.one(block, 'Add', [mlp(mid), mid]);
    }
  }
  weights.checkAllUsed();
  projections.checkAdapterUsed(spec.family);
  return { model: decoderModel(g, weights, files, x), externalDataFolder };
}
