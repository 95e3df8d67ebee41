/**
 * A layer's attention output projection W_O, to take an attn_z direction (the heads' outputs, before W_O) to the
 * residual stream it writes: for the logit effects of attn_z features, W_dec[f] · W_Oᵀ · W_U (the direct path through
 * the layer's output projection, as Neuronpedia shows attention SAE features). From a checkpoint: o_proj's weight
 * [hidden, width] (GPT-NeoX's and Phi's dense; GPT-2's Conv1D c_proj holds [width, hidden]); from an export: the
 * weight of the o_proj MatMul (stored [width, hidden]) or Gemm that reads attn_z (model/hooks.ts
 * outputProjectionNode). Base's W_O, as the logit effects use base's W_U.
 */
import { outputProjectionNode } from '../model/hooks';
import { graphOf, type ModelProto, readOnnxModel } from '../model/onnxGraph';
import { checkpointTensorNames } from '../model/checkpoint/checkpointWeights';
import type { CheckpointSource, ModelSource } from '../model/modelSource';
import { transpose } from '../sae/weights';
import { checkpointMatrix, linearNodeWeight, type StoredMatrix } from './unembedding';

export interface OutputProjection {
  /** Row-major [width, hidden]: an attn_z vector times it is what the layer adds to the residual stream (before b_O). */
  data: Float32Array;
  width: number;
  hidden: number;
  name: string;
}

/** Reads W_Oᵀ of a layer of `source`, or why it cannot be read; an ONNX file is parsed once, on the first read. */
export function outputProjectionReader(source: ModelSource): (layer: number) => OutputProjection | string {
  if (source.format !== 'onnx') return (layer) => fromCheckpoint(source, layer);
  let model: ModelProto | undefined;
  return (layer) => fromOnnx(source.file, (model ??= readOnnxModel(source.file)), layer);
}

/**
 * W_O's name in a checkpoint of `family`, and whether it is stored [in, out]: GPT-2's Conv1D c_proj (x W + b), where
 * nn.Linear's o_proj (Llama's kin) and dense (GPT-NeoX, Phi) hold [out, in].
 */
function checkpointOutputProjection(family: string, prefix: string, layer: number): { name: string; inputsFirst: boolean } {
  if (family === 'gpt2') return { name: `${prefix}h.${layer}.attn.c_proj.weight`, inputsFirst: true };
  if (family === 'gpt_neox') return { name: `${prefix}layers.${layer}.attention.dense.weight`, inputsFirst: false };
  if (family === 'phi') return { name: `${prefix}layers.${layer}.self_attn.dense.weight`, inputsFirst: false };
  return { name: `${prefix}layers.${layer}.self_attn.o_proj.weight`, inputsFirst: false };
}

function fromCheckpoint(source: CheckpointSource, layer: number): OutputProjection | string {
  const { prefix } = checkpointTensorNames(source.checkpoint.tensors, source.spec.family);
  const { name, inputsFirst } = checkpointOutputProjection(source.spec.family, prefix, layer);
  const t = source.checkpoint.tensors.get(name);
  if (!t) return `${source.checkpoint.main} has no ${name}`;
  const m = checkpointMatrix(name, t);
  return projection(typeof m === 'string' || !inputsFirst ? m : { ...m, outputsFirst: false });
}

function fromOnnx(file: string, model: ModelProto, layer: number): OutputProjection | string {
  const node = outputProjectionNode(model, layer);
  return node ? projection(linearNodeWeight(graphOf(model), node, file)) : `no output projection of layer ${layer} was found in ${file}`;
}

/** W_O as stored ([hidden, width] as nn.Linear holds it, or MatMul's [width, hidden]) -> W_Oᵀ [width, hidden]. */
function projection(m: StoredMatrix | string): OutputProjection | string {
  if (typeof m === 'string') return m;
  return m.outputsFirst
    ? { data: transpose(m.values, m.rows, m.cols), width: m.cols, hidden: m.rows, name: m.name }
    : { data: m.values, width: m.rows, hidden: m.cols, name: m.name };
}
