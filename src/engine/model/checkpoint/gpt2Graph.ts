/**
 * The ONNX graph of a GPT-2 checkpoint (gpt2Config.ts), built in memory from its config.json and safetensors headers,
 * its weights external data pointing into the safetensors files in place (checkpointWeights.ts), as
 * decoderGraph.ts does for Llama's kin.
 *
 * The forward pass is transformers' modeling_gpt2.py, eager attention, in float32 (float16 and bfloat16 weights
 * widened; the embedding table only by the rows gathered):
 * - the input: wte(input_ids) + wpe(position_ids);
 * - each block: x + attn(ln_1(x)), then + mlp(ln_2(x)), both norms nn.LayerNorm (mean and biased variance over the
 *   hidden axis, computed in two passes as torch does, times the weight, plus the bias);
 * - attention: c_attn (Conv1D: y = x W + b, W [in, out]) split into q, k, v; softmax(q kᵀ · scaling + causal and padding
 *   mask) v; c_proj;
 * - MLP: c_proj(act(c_fc(x))), act GELU's tanh approximation (gelu_new), exact GELU or ReLU.
 *
 * Nodes carry the scopes torch.onnx's TorchScript exporter writes for GPT2LMHeadModel (`/transformer/h.3/attn/...`,
 * the block's residual sums `/transformer/h.3/Add` and `/transformer/h.3/Add_1`), so model/hooks.ts finds every hook
 * point as it does in an export. The graph ends at the last block (no ln_f, no lm_head).
 *
 * With a LoRA adapter, each adapted Conv1D adds PEFT's unmerged branch (graphParts.ts Projections).
 */
import { intAttr, type ModelProto } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import type { Gpt2Spec } from './gpt2Config';
import { attention, decoderModel, layerNorm, mlpActivationOp, startGraph } from './graphParts';
import type { LoraAdapter } from './loraAdapter';
import { FLOAT, ints } from './scopedGraph';

/** Builds the graph; its external data locations are relative to `externalDataFolder` (see decoderGraph.ts). */
export function buildGpt2Graph(
  spec: Gpt2Spec,
  files: CheckpointFiles,
  configFile: string,
  adapter?: LoraAdapter,
): { model: ModelProto; externalDataFolder: string } {
  const { g, weights, frame, projections, externalDataFolder } = startGraph(spec, files, configFile, adapter, FLOAT, '/transformer');
  const { hidden, heads, headDim, intermediate } = spec;
  const prefix = weights.prefix;

  const norm = (scope: string, x: string, name: string) => layerNorm(g, weights, scope, x, name, hidden, spec.layerNormEps);
  const activation = (scope: string, t: string) => mlpActivationOp(g, spec.activation, scope, t);

  // gathered as stored, only the rows widened (a half table stays half in memory)
  const table = weights.stored(weights.embedding, [-1, hidden]);
  const rows = g.one('/transformer/wte', 'Gather', [table.name, 'input_ids'], [], table.dataType);
  const tokens = g.cast('/transformer/wte', rows, table.dataType, FLOAT);
  const positions = g.one('/transformer/wpe', 'Gather', [weights.get(`${prefix}wpe.weight`, [spec.maxPositions, hidden]), 'position_ids']);
  let x = g.one('/transformer', 'Add', [tokens, positions]);

  const toHeads = (scope: string, t: string) =>
    g.one(
      scope,
      'Transpose',
      [g.one(scope, 'Reshape', [t, g.int64s('sae_diff.heads', [0, 0, heads, headDim])])],
      [ints('perm', [0, 2, 1, 3])],
    );
  const split = g.int64s('sae_diff.qkv_split', [hidden, hidden, hidden]);
  const scale = g.floats('sae_diff.attention_scale', Float32Array.of(spec.attentionScale), []);
  for (let l = 0; l < spec.layers; l++) {
    const block = `/transformer/h.${l}`;
    const w = `${prefix}h.${l}`;
    const attn = `${block}/attn`;
    const normed = norm(`${block}/ln_1`, x, `${w}.ln_1`);
    const qkv = projections.linear(`${attn}/c_attn`, normed, `${w}.attn.c_attn`, 3 * hidden, true, hidden, 'conv1d');
    const [q, k, v] = g.op(attn, 'Split', [qkv, split], [intAttr('axis', -1)], 3);
    const merged = attention(g, frame, attn, toHeads(attn, q), toHeads(attn, k), toHeads(attn, v), scale, hidden);
    const attnOut = projections.linear(`${attn}/c_proj`, merged, `${w}.attn.c_proj`, hidden, true, hidden, 'conv1d');
    const mid = g.one(block, 'Add', [attnOut, x]);
    const mlp = `${block}/mlp`;
    const up = projections.linear(
      `${mlp}/c_fc`,
      norm(`${block}/ln_2`, mid, `${w}.ln_2`),
      `${w}.mlp.c_fc`,
      intermediate,
      true,
      hidden,
      'conv1d',
    );
    const down = projections.linear(`${mlp}/c_proj`, activation(`${mlp}/act`, up), `${w}.mlp.c_proj`, hidden, true, intermediate, 'conv1d');
    x = g.one(block, 'Add', [mid, down]);
  }
  weights.checkAllUsed();
  projections.checkAdapterUsed(spec.family);
  return { model: decoderModel(g, weights, files, x), externalDataFolder };
}
