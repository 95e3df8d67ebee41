/**
 * TransformerLens's `fold_value_biases`, applied to hooked attn_z. HookedTransformer.from_pretrained (its default
 * processing) moves each head's value bias into the output bias: b_O += sum over heads of b_V[head] @ W_O[head], then
 * b_V = 0 (transformer_lens/weight_processing.py, ProcessWeights.fold_value_biases; grouped-query models' `_b_V`
 * repeat_interleave'd over the query heads of each key/value head). A head's output weighs its values with an attention
 * pattern that sums to 1, so hook_z of the processed model is the unprocessed one minus b_V, head by head. An SAE
 * trained on that hook_z (Kissane et al.'s GPT-2 attention SAEs; SAELens ones whose cfg.json says fold_value_biases)
 * reads z so; this takes each model's own b_V out of its z, inside the graph.
 *
 * Where b_V sits in the stored bias, as TransformerLens's weight conversions read it
 * (transformer_lens/pretrained/weight_conversions/):
 * - `v_proj`, `value` (Qwen2, Phi, OPT, Llama with attention_bias): all of it, one d_head block per key/value head;
 * - `c_attn`, `qkv_proj` (GPT-2's Conv1D, Phi-3's fused projection): q, k and v one after the other, v last (gpt2.py
 *   splits c_attn's bias in thirds);
 * - `query_key_value` (GPT-NeoX, Pythia): interleaved head by head, [heads, 3 (q, k, v), d_head] (neox.py).
 */
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../core/errors';
import type { ValueBias } from './hooks';
import type { AttentionHeads } from './modelFolder';
import { graphOf, intAttr, makeNode, type ModelProto, TensorDataType, toNumber } from './onnxGraph';

type Layout = 'values' | 'fused' | 'interleaved';

const LAYOUTS: Record<string, Layout> = {
  v_proj: 'values',
  value: 'values',
  c_attn: 'fused',
  qkv_proj: 'fused',
  query_key_value: 'interleaved',
};

/** Appends `name` = z - b_V (each query head's value bias) to the graph, for layer `layer`'s float32 attn_z `z`. */
export function appendFoldedZ(
  model: ModelProto,
  z: string,
  bias: ValueBias,
  heads: AttentionHeads | undefined,
  name: string,
  file: string,
  layer: number,
): void {
  const graph = graphOf(model);
  const stored = graph.initializer.find((i) => i.name === bias.tensor);
  const length = (stored?.dims ?? []).reduce((a: number, d) => a * toNumber(d), 1);
  const projection = bias.scope.slice(bias.scope.lastIndexOf('/') + 1);
  const layout = LAYOUTS[projection];
  const refuse = (why: string, hint: string) =>
    new SaeDiffError(`Cannot fold layer ${layer}'s value bias (${bias.scope}) out of attn_z: ${why}`, {
      location: { file, key: 'layers.hook_point' },
      hint,
    });
  const unfoldedHint =
    "Use an SAE trained without TransformerLens's fold_value_biases (its cfg.json model_from_pretrained_kwargs without it), or one of the residual stream.";
  const statedIn = 'num_attention_heads, num_key_value_heads and head_dim as config.json says them';
  if (!stored) throw refuse(`the bias '${bias.tensor}' is computed in the graph, not stored in it`, unfoldedHint);
  if (!layout) throw refuse(`sae-diff does not know where the values' part of a ${projection} bias lies`, unfoldedHint);
  if (!heads || heads.heads % heads.kvHeads !== 0)
    throw refuse(`the model's heads are not known (${statedIn})`, "Put the model's config.json beside its ONNX file.");
  const { heads: h, kvHeads: kv, headDim: d } = heads;
  const expected = layout === 'values' ? kv * d : layout === 'fused' ? (h + 2 * kv) * d : 3 * h * d;
  if (length !== expected || (layout === 'interleaved' && kv !== h))
    throw refuse(
      `it holds ${length} values, but a ${projection} bias of ${h} heads (${kv} key/value heads) of size ${d} would hold ${expected}${layout === 'interleaved' && kv !== h ? ' with as many key/value heads as heads' : ''}`,
      `Check ${statedIn}.`,
    );

  const p = `sae_diff.fold.${layer}`;
  const constant = (suffix: string, values: number[]) => {
    graph.initializer.push(
      onnx.TensorProto.create({ name: `${p}.${suffix}`, dataType: TensorDataType.INT64, dims: [values.length], int64Data: values }),
    );
    return `${p}.${suffix}`;
  };
  const nodes: onnx.NodeProto[] = [];
  const node = (op: string, inputs: string[], suffix: string, attrs: onnx.IAttributeProto[] = []) => {
    nodes.push(makeNode(op, inputs, [`${p}.${suffix}`], `sae_diff/${op}_fold_${layer}_${suffix}`, attrs));
    return `${p}.${suffix}`;
  };
  let values = bias.tensor;
  if (stored.dataType !== TensorDataType.FLOAT) values = node('Cast', [values], 'float', [intAttr('to', TensorDataType.FLOAT)]);
  if (layout === 'fused') values = node('Slice', [values, constant('start', [(h + kv) * d]), constant('end', [expected])], 'v');
  if (layout === 'interleaved') {
    const perHead = node('Reshape', [values, constant('qkv_shape', [h, 3, d])], 'qkv');
    values = node('Gather', [perHead, constant('v_index', [2])], 'v', [intAttr('axis', 1)]);
  }
  if (kv !== h) {
    // each key/value head's bias for the h / kv query heads that read it (TransformerLens's repeat_interleave)
    const grouped = node('Reshape', [values, constant('kv_shape', [kv, 1, d])], 'grouped');
    values = node('Expand', [grouped, constant('repeat_shape', [kv, h / kv, d])], 'repeated');
  }
  const perQueryHead = node('Reshape', [values, constant('z_shape', [h * d])], 'b_V');
  nodes.push(makeNode('Sub', [z, perQueryHead], [name], `sae_diff/Sub_fold_${layer}`));
  graph.node.push(...nodes);
}
