/**
 * A layer's attention output projection W_O, to take an attn_z direction (the heads' outputs, before W_O) to the
 * residual stream it writes: for the logit effects of attn_z features, W_dec[f] · W_Oᵀ · W_U (the direct path through
 * the layer's output projection, as Neuronpedia shows attention SAE features). From a checkpoint:
 * `layers.N.self_attn.o_proj.weight` [hidden, width]; from an export: the weight of the o_proj MatMul (stored
 * [width, hidden]) or Gemm that reads attn_z (model/hooks.ts outputProjectionNode). Base's W_O, as the logit effects
 * use base's W_U.
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

function fromCheckpoint(source: CheckpointSource, layer: number): OutputProjection | string {
  const { prefix } = checkpointTensorNames(source.checkpoint.tensors, source.spec.family);
  const name = `${prefix}layers.${layer}.self_attn.o_proj.weight`;
  const t = source.checkpoint.tensors.get(name);
  return t ? projection(checkpointMatrix(name, t)) : `${source.checkpoint.main} has no ${name}`;
}

function fromOnnx(file: string, model: ModelProto, layer: number): OutputProjection | string {
  const node = outputProjectionNode(model, file, layer);
  return node ? projection(linearNodeWeight(graphOf(model), node, file)) : `no output projection of layer ${layer} was found in ${file}`;
}

/** W_O as stored ([hidden, width] as nn.Linear holds it, or MatMul's [width, hidden]) -> W_Oᵀ [width, hidden]. */
function projection(m: StoredMatrix | string): OutputProjection | string {
  if (typeof m === 'string') return m;
  return m.outputsFirst
    ? { data: transpose(m.values, m.rows, m.cols), width: m.cols, hidden: m.rows, name: m.name }
    : { data: m.values, width: m.rows, hidden: m.cols, name: m.name };
}
