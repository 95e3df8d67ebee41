/**
 * The model's unembedding W_U [d, V]. From a checkpoint: `lm_head.weight` [V, d], or with tied embeddings
 * `embed_tokens.weight`, transposed. From an ONNX file: the weight of the MatMul (or Gemm) that
 * produces the `logits` output, which is `lm_head.weight` transposed, or the tied `embed_tokens` weight
 * (through a Transpose, or a Gemm with transB). The run graph is cut before lm_head, so the initializer is
 * read from the file itself, or from its external data file, reading that tensor only. float32 weights are
 * read as they are, float16 and bfloat16 ones widened exactly; anything else is refused (the caller skips
 * logit effects with a warning naming the reason).
 */
import { onnx } from 'onnx-proto';
import { placeExternalData, readExternalBytes } from '../model/externalData';
import { graphOf, readOnnxModel, TensorDataType } from '../model/onnxGraph';
import { toFloat32 } from '../sae/safetensors';
import { readRange } from '../io/readAt';
import { checkpointTensorNames } from '../model/checkpoint/checkpointWeights';
import type { CheckpointTensor } from '../model/checkpoint/checkpointFiles';
import { type CheckpointSource, type ModelSource, onnxSource } from '../model/modelSource';
import { transpose } from '../sae/weights';

export interface Unembedding {
  /** Row-major [hidden, vocab]. */
  data: Float32Array;
  hidden: number;
  vocab: number;
  /** The initializer it came from. */
  name: string;
}

/** W_U of a model source (a path is an ONNX file), or why it cannot be read. */
export function readUnembedding(from: string | ModelSource): Unembedding | string {
  const source = typeof from === 'string' ? onnxSource(from) : from;
  return source.format === 'onnx' ? fromOnnx(source.file) : fromCheckpoint(source);
}

function fromCheckpoint(source: CheckpointSource): Unembedding | string {
  const tensors = source.checkpoint.tensors;
  const { embedding: tiedName, lmHead } = checkpointTensorNames(tensors, source.spec.family);
  const name = tensors.has(lmHead) ? lmHead : source.spec.tiedEmbeddings && tensors.has(tiedName) ? tiedName : undefined;
  if (!name) return `${source.file} has no ${lmHead} and config.json does not tie the embeddings`;
  const m = checkpointMatrix(name, tensors.get(name)!);
  return typeof m === 'string' ? m : transposed(m.values, m.rows, m.cols, name);
}

/** [V, d] row-major -> the Unembedding [d, V]. */
function transposed(values: Float32Array, rows: number, cols: number, name: string): Unembedding {
  return { data: transpose(values, rows, cols), hidden: cols, vocab: rows, name };
}

function fromOnnx(file: string): Unembedding | string {
  const graph = graphOf(readOnnxModel(file));
  const output = (graph.output ?? []).find((o) => o.name === 'logits') ?? graph.output?.[0];
  if (!output?.name) return `${file} has no graph output`;
  const producerOf = (name: string) => (graph.node ?? []).find((n) => (n.output ?? []).includes(name));
  let producer = producerOf(output.name);
  // a half-precision export may hand the product on through a Cast to float32 or an Identity
  for (let hops = 0; hops < 4 && (producer?.opType === 'Cast' || producer?.opType === 'Identity'); hops++)
    producer = producerOf(producer.input![0]);
  if (!producer || (producer.opType !== 'MatMul' && producer.opType !== 'Gemm')) {
    return `the ${output.name} output of ${file} is not made by a MatMul or Gemm (found ${producer?.opType ?? 'nothing'})`;
  }
  // tied weights: MatMul(x, Transpose(embed_tokens))
  const m = linearNodeWeight(graph, producer, file);
  if (typeof m === 'string') return m;
  return m.outputsFirst ? transposed(m.values, m.rows, m.cols, m.name) : { data: m.values, hidden: m.rows, vocab: m.cols, name: m.name };
}

/** A weight matrix as stored, widened to float32: [rows, cols] row-major. */
export interface StoredMatrix {
  name: string;
  values: Float32Array;
  rows: number;
  cols: number;
  /** It holds [out, in] (nn.Linear's layout, Gemm with transB, a Transpose's input), not MatMul's [in, out]. */
  outputsFirst: boolean;
}

/** A checkpoint's 2-D tensor (nn.Linear's [out, in]) read as float32, or why it cannot be. */
export function checkpointMatrix(name: string, t: CheckpointTensor): StoredMatrix | string {
  const dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[t.dtype];
  if (!dtype) return `${name} in ${t.file} is ${t.dtype}, not float32, float16 or bfloat16`;
  if (t.shape.length !== 2) return `${name} in ${t.file} has ${t.shape.length} dimensions, expected 2`;
  const [rows, cols] = t.shape;
  return { name, values: toFloat32(readRange(t.file, t.offset, t.length), dtype, t.file), rows, cols, outputsFirst: true };
}

/**
 * The weight W of a MatMul(x, W) or Gemm(x, W) node: a stored tensor (read from the file or its external data, that
 * tensor only), or a Transpose of one; or why it cannot be read.
 */
export function linearNodeWeight(graph: onnx.IGraphProto, node: onnx.INodeProto, file: string): StoredMatrix | string {
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  let weightName = node.input![1];
  // Gemm(x, W, transB=1) is x W^T: W is [out, in]
  let outputsFirst = node.opType === 'Gemm' && (node.attribute ?? []).some((a) => a.name === 'transB' && Number(a.i) === 1);
  if (!inits.has(weightName)) {
    const t = (graph.node ?? []).find((n) => (n.output ?? []).includes(weightName));
    if (t?.opType !== 'Transpose' || !inits.has(t.input![0]))
      return `the weight of ${node.name ?? node.opType} in ${file} is not a stored tensor`;
    weightName = t.input![0];
    outputsFirst = !outputsFirst;
  }
  const tensor = inits.get(weightName)!;
  const dims = (tensor.dims ?? []).map(Number);
  if (dims.length !== 2) return `${weightName} in ${file} has ${dims.length} dimensions, expected 2`;
  const values = floatData(tensor, () => readExternalBytes(tensor, placeExternalData({ initializer: [tensor] }, file)!), file);
  if (!values) return `${weightName} in ${file} is not float32, float16 or bfloat16 (ONNX type ${tensor.dataType})`;
  const [rows, cols] = dims;
  if (values.length !== rows * cols) return `${weightName} in ${file} holds ${values.length} values, not ${rows} x ${cols}`;
  return { name: weightName, values, rows, cols, outputsFirst };
}

/** The dtype names sae/safetensors.ts's toFloat32 decodes, by ONNX element type. */
const WIDENED: Record<number, string> = {
  [TensorDataType.FLOAT]: 'float32',
  [TensorDataType.FLOAT16]: 'float16',
  [TensorDataType.BFLOAT16]: 'bfloat16',
};

/** ONNX TensorProto float data (raw_data, little-endian, in the file or external, or float_data) as float32. */
function floatData(tensor: onnx.ITensorProto, external: () => Uint8Array, file: string): Float32Array | undefined {
  const dtype = WIDENED[tensor.dataType ?? 0];
  if (!dtype) return undefined;
  if (dtype === 'float32' && tensor.floatData && tensor.floatData.length > 0) return Float32Array.from(tensor.floatData);
  const raw = tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL ? external() : (tensor.rawData ?? new Uint8Array(0));
  return toFloat32(raw, dtype, file);
}
