/**
 * TransformerLens's `center_writing_weights`, applied to hooked activations. HookedTransformer.from_pretrained
 * (its default processing) subtracts from every weight that writes to the residual stream (W_E, W_pos, each
 * attention's W_O and b_O, each MLP's W_out and b_out) its mean over d_model (transformer_lens/weight_processing.py,
 * ProcessWeights.center_writing_weights), and does so only for LayerNorm models (normalization_type LN or LNPre:
 * a LayerNorm ignores its input's mean, so the model's outputs are unchanged). The residual stream is a sum of those
 * writes, so every residual hook point (and each branch, attn_out and mlp_out) of the processed model is the
 * unprocessed value minus its mean over the hidden axis. An SAE trained on such a model (SAELens' cfg.json says so:
 * sae/formats/saelens.ts) reads the stream centred; this centres it likewise.
 */
import { onnx } from 'onnx-proto';
import { graphOf, intAttr, makeNode, type ModelProto, TensorDataType } from './onnxGraph';

/** ORT's fused LayerNorms (the Simplified ones are RMSNorm). */
const LAYER_NORM_OPS = new Set(['LayerNormalization', 'SkipLayerNormalization']);

/**
 * Whether the graph normalises with LayerNorm, which centres its input: a LayerNormalization node (torch exports at
 * opset 17 and later, dynamo's), ORT's fused SkipLayerNormalization, or, decomposed (opset 14 exports, graphs built
 * from checkpoints), a Sub of a tensor and its own ReduceMean. RMSNorm (Llama's kin) has neither.
 */
export function normalisesWithLayerNorm(model: ModelProto): boolean {
  const nodes = graphOf(model).node;
  if (nodes.some((n) => LAYER_NORM_OPS.has(n.opType ?? ''))) return true;
  const meanOf = new Map<string, string>();
  for (const n of nodes) if (n.opType === 'ReduceMean' && n.output?.[0] && n.input?.[0]) meanOf.set(n.output[0], n.input[0]);
  return nodes.some((n) => n.opType === 'Sub' && n.input?.length === 2 && meanOf.get(n.input[1]) === n.input[0]);
}

/** The graph's default-domain opset (ReduceMean takes its axes as an attribute before 18, as an input from 18). */
function opsetOf(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return Number(entry?.version ?? 17);
}

/** Appends `name` = x - mean(x over the last axis) to the graph, for a float32 tensor x. */
export function appendCentred(model: ModelProto, x: string, name: string): void {
  const graph = graphOf(model);
  const mean = `${name}.mean`;
  const nodes: onnx.NodeProto[] = [];
  if (opsetOf(model) >= 18) {
    const axes = `${name}.axes`;
    graph.initializer.push(onnx.TensorProto.create({ name: axes, dataType: TensorDataType.INT64, dims: [1], int64Data: [-1] }));
    nodes.push(makeNode('ReduceMean', [x, axes], [mean], `sae_diff/ReduceMean_${name}`, [intAttr('keepdims', 1)]));
  } else {
    const axesAttr = onnx.AttributeProto.create({ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [-1] });
    nodes.push(makeNode('ReduceMean', [x], [mean], `sae_diff/ReduceMean_${name}`, [axesAttr, intAttr('keepdims', 1)]));
  }
  nodes.push(makeNode('Sub', [x, mean], [name], `sae_diff/Sub_${name}`));
  graph.node.push(...nodes);
}
