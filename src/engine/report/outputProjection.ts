/**
 * A layer's attention output projection W_O, to take an attn_z direction (the heads' outputs, before W_O) to the
 * residual stream it writes: for the logit effects of attn_z features, W_dec[f] · W_Oᵀ · W_U (the direct path through
 * the layer's output projection, as Neuronpedia shows attention SAE features). From a checkpoint:
 * `layers.N.self_attn.o_proj.weight` [hidden, width]; from an export: the weight of the o_proj MatMul (stored
 * [width, hidden]) or Gemm that reads attn_z (model/hooks.ts outputProjectionNode). Base's W_O, as the logit effects
 * use base's W_U.
 */
import { outputProjectionNode } from '../model/hooks';
import { placeExternalData, readExternalBytes } from '../model/externalData';
import { graphOf, type ModelProto, readOnnxModel } from '../model/onnxGraph';
import { checkpointTensorNames } from '../model/checkpoint/checkpointWeights';
import type { CheckpointSource, ModelSource } from '../model/modelSource';
import { readRange } from '../io/readAt';
import { toFloat32 } from '../sae/safetensors';
import { transpose } from '../sae/weights';
import { floatData } from './unembedding';

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
  if (!t) return `${source.checkpoint.main} has no ${name}`;
  const dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[t.dtype];
  if (!dtype || t.shape.length !== 2) return `${name} in ${t.file} is ${t.dtype} [${t.shape}], not a float matrix`;
  const [hidden, width] = t.shape;
  return { data: transpose(toFloat32(readRange(t.file, t.offset, t.length), dtype, t.file), hidden, width), width, hidden, name };
}

function fromOnnx(file: string, model: ModelProto, layer: number): OutputProjection | string {
  const node = outputProjectionNode(model, file, layer);
  if (!node) return `no output projection of layer ${layer} was found in ${file}`;
  const graph = graphOf(model);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  let weightName = node.input![1];
  // MatMul(z, W) holds W as [width, hidden]; Gemm(z, W, transB=1) as [hidden, width]; a Transpose of a stored tensor flips it
  let widthFirst = !(node.opType === 'Gemm' && (node.attribute ?? []).some((a) => a.name === 'transB' && Number(a.i) === 1));
  if (!inits.has(weightName)) {
    const t = (graph.node ?? []).find((n) => (n.output ?? []).includes(weightName));
    if (t?.opType !== 'Transpose' || !inits.has(t.input![0]))
      return `the weight of ${node.name ?? node.opType} in ${file} is not a stored tensor`;
    weightName = t.input![0];
    widthFirst = !widthFirst;
  }
  const tensor = inits.get(weightName)!;
  const dims = (tensor.dims ?? []).map(Number);
  if (dims.length !== 2) return `${weightName} in ${file} has ${dims.length} dimensions, expected 2`;
  const values = floatData(tensor, () => readExternalBytes(tensor, placeExternalData({ initializer: [tensor] }, file)!), file);
  if (!values || values.length !== dims[0] * dims[1]) return `${weightName} in ${file} is not a float matrix of ${dims[0]} x ${dims[1]}`;
  return widthFirst
    ? { data: values, width: dims[0], hidden: dims[1], name: weightName }
    : { data: transpose(values, dims[0], dims[1]), width: dims[1], hidden: dims[0], name: weightName };
}
