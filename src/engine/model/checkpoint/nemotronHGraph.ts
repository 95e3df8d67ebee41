/**
 * The ONNX graph of a Nemotron-H checkpoint (nemotronHConfig.ts), built in memory from its config.json and
 * safetensors headers, the weights external data pointing into the files in place, as decoderGraph.ts does.
 *
 * The forward pass is transformers 5.18's modeling_nemotron_h.py, eager attention, in float32:
 * - the input: backbone.embeddings(input_ids);
 * - each block: x + mixer(norm(x)), norm an RMSNorm multiplying by its weight in float32 (NemotronHRMSNorm), the
 *   mixer one of: Mamba2 (mamba2.ts, its gated norm per group), attention (GQA without positions: softmax(q kᵀ ·
 *   head_dim^-0.5 + mask) v, o_proj), the MLP down_proj(relu(up_proj(h))²), or Nemotron 3's experts (nemotronMoe.ts).
 *
 * Blocks are scoped as the other checkpoint graphs scope them (`/model/layers.3/...`, the residual sum
 * `/model/layers.3/Add`), so model/hooks.ts finds resid_pre and resid_post; a block of one mixer has no resid_mid,
 * and its mixer output is neither attn_out nor mlp_out. The graph ends at the last block (no norm_f, no lm_head).
 */
import type { ModelProto } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import { attention, decoderModel, repeatKv, rmsNormalized, startGraph } from './graphParts';
import type { LoraAdapter } from './loraAdapter';
import { mamba2 } from './mamba2';
import { nemotronMoe } from './nemotronMoe';
import type { NemotronHSpec } from './nemotronHConfig';
import { FLOAT, ints } from './scopedGraph';

/** Builds the graph; its external data locations are relative to `externalDataFolder` (graphParts.ts startGraph). */
export function buildNemotronHGraph(
  spec: NemotronHSpec,
  files: CheckpointFiles,
  configFile: string,
  adapter?: LoraAdapter,
): { model: ModelProto; externalDataFolder: string } {
  const { g, weights, frame, projections, externalDataFolder } = startGraph(spec, files, configFile, adapter, FLOAT, '/model');
  const { hidden, heads, kvHeads, headDim } = spec;
  const prefix = weights.prefix;
  const linear = projections.linear.bind(projections);
  const table = weights.stored(weights.embedding, [-1, hidden]);
  let x = g.cast(
    '/model/embeddings',
    g.one('/model/embeddings', 'Gather', [table.name, 'input_ids'], [], table.dataType),
    table.dataType,
    FLOAT,
  );
  const scale = g.floats('sae_diff.attention_scale', Float32Array.of(Math.fround(Math.pow(headDim, -0.5))), []);
  for (let l = 0; l < spec.layers; l++) {
    const block = `/model/layers.${l}`;
    const w = `${prefix}layers.${l}`;
    const mixer = `${block}/mixer`;
    // NemotronHRMSNorm: weight (in float32) · x · rsqrt(mean(x²) + eps)
    const normed = g.one(`${block}/norm`, 'Mul', [
      weights.get(`${w}.norm.weight`, [hidden]),
      rmsNormalized(g, `${block}/norm`, x, spec.eps),
    ]);
    let out: string;
    if (spec.blocks[l] === 'mamba') {
      out = mamba2({ g, weights, projections, hidden, eps: spec.eps, module: 'mixer' }, spec.mamba, block, w, normed);
    } else if (spec.blocks[l] === 'attention') {
      const headsOf = (name: string, n: number) =>
        g.one(
          mixer,
          'Transpose',
          [
            g.one(mixer, 'Reshape', [
              linear(`${mixer}/${name}`, normed, `${w}.mixer.${name}`, n * headDim, false, hidden),
              g.int64s(`sae_diff.heads_${n}_${headDim}`, [0, 0, n, headDim]),
            ]),
          ],
          [ints('perm', [0, 2, 1, 3])],
        );
      const merged = attention(
        g,
        frame,
        mixer,
        headsOf('q_proj', heads),
        repeatKv(g, mixer, headsOf('k_proj', kvHeads), heads, kvHeads, headDim),
        repeatKv(g, mixer, headsOf('v_proj', kvHeads), heads, kvHeads, headDim),
        scale,
        heads * headDim,
      );
      out = linear(`${mixer}/o_proj`, merged, `${w}.mixer.o_proj`, hidden, false, heads * headDim);
    } else if (spec.blocks[l] === 'moe') {
      const moeContext = { g, weights, projections, hidden, flatShape: frame.flatShape(hidden), batchShape: frame.shapeOf(hidden) };
      out = nemotronMoe(moeContext, spec.moe!, mixer, w, normed);
    } else {
      // NemotronHMLP: down_proj(relu2(up_proj(h))), relu2 = relu(x)²
      const up = g.one(mixer, 'Relu', [linear(`${mixer}/up_proj`, normed, `${w}.mixer.up_proj`, spec.intermediate, spec.mlpBias, hidden)]);
      out = linear(`${mixer}/down_proj`, g.one(mixer, 'Mul', [up, up]), `${w}.mixer.down_proj`, hidden, spec.mlpBias, spec.intermediate);
    }
    x = g.one(block, 'Add', [x, out]);
  }
  weights.checkAllUsed();
  projections.checkAdapterUsed(spec.family);
  return { model: decoderModel(g, weights, files, x), externalDataFolder };
}
