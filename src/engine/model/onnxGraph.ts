import * as path from 'path';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../core/errors';
import { readNodeMetadata } from './nodeMetadata';
import { readOnnxSkeleton } from './onnxSkeleton';
import { varintBytes } from './protobufFields';

export type ModelProto = onnx.ModelProto;
export const TensorDataType = onnx.TensorProto.DataType;

/** The decoded graph (decode always fills the repeated fields). */
export function graphOf(model: ModelProto): onnx.GraphProto {
  return model.graph as onnx.GraphProto;
}

/** Long | number -> number (protobufjs decodes int64 as Long when the `long` package is present). */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber: () => number }).toNumber();
  return Number(v);
}

/**
 * Decodes an ONNX file without reading its weights (model/onnxSkeleton.ts): large initialisers come back as
 * external-data references into the file, located relative to its folder. Refuses files that are not ONNX
 * models with a message naming the file.
 */
export function readOnnxModel(file: string): ModelProto {
  let bytes: Uint8Array;
  try {
    bytes = readOnnxSkeleton(file, path.basename(file));
  } catch (e) {
    // a system error (ENOENT, EACCES, EISDIR) is about the file; any other is about its bytes
    if ((e as NodeJS.ErrnoException).code)
      throw new SaeDiffError(`Cannot read the ONNX file: ${(e as Error).message}`, { location: { file } });
    throw notOnnx(file, (e as Error).message);
  }
  return decodeOnnxModel(bytes, file);
}

export function decodeOnnxModel(bytes: Uint8Array, file: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw notOnnx(file, (e as Error).message);
  }
  const g = model.graph as onnx.GraphProto | null | undefined;
  if (!g || g.node.length === 0 || g.output.length === 0 || !model.opsetImport?.length) {
    throw notOnnx(file, 'no graph, nodes, outputs or opset were found');
  }
  attachNodeMetadata(g, bytes);
  return model;
}

/** Node metadata_props by node object (kept beside the nodes: onnx-proto's NodeProto has no field for them). */
const metadataOf = new WeakMap<onnx.INodeProto, Record<string, string>>();

function attachNodeMetadata(g: onnx.GraphProto, bytes: Uint8Array): void {
  let meta: Record<string, string>[] | undefined;
  try {
    meta = readNodeMetadata(bytes);
  } catch {
    return; // onnx-proto decoded the file; metadata it cannot walk is just absent
  }
  // the walk visits the same top-level nodes in the same order as the decoder
  if (!meta || meta.length !== g.node.length) return;
  g.node.forEach((n, i) => metadataOf.set(n, meta![i]));
}

/** A node's metadata_props (ONNX IR >= 10), when the file carried any. */
export function nodeMetadata(node: onnx.INodeProto): Record<string, string> | undefined {
  return metadataOf.get(node);
}

function notOnnx(file: string, detail: string): SaeDiffError {
  return new SaeDiffError(`Not an ONNX model (${detail})`, {
    location: { file },
    hint: 'Re-export the model with torch.onnx.export or `optimum-cli export onnx`; a Git LFS pointer file means the weights were never downloaded (`git lfs pull`).',
  });
}

function lengthOf(parts: Uint8Array[]): number {
  return parts.reduce((s, p) => s + p.length, 0);
}

/**
 * Serializes a model. protobufjs copies large `bytes` fields slowly (over 0.5 s per 100 MB), so the
 * graph is written without its initializers, and the initializers follow as a second `graph` field
 * holding only them: protobuf parsers merge repeated occurrences of an embedded message, so ONNX
 * Runtime reads one graph. Each tensor's raw_data is appended as its own field, by one memory copy.
 */
export function encodeOnnxModel(model: onnx.IModelProto): Uint8Array {
  const graph = model.graph as onnx.GraphProto;
  const initializers = graph.initializer ?? [];
  graph.initializer = [];
  let head: Uint8Array;
  try {
    head = onnx.ModelProto.encode(model).finish();
  } finally {
    graph.initializer = initializers;
  }
  if (initializers.length === 0) return head;
  const TENSOR_RAW_DATA = Uint8Array.of((9 << 3) | 2);
  const GRAPH_INITIALIZER = Uint8Array.of((5 << 3) | 2);
  const MODEL_GRAPH = Uint8Array.of((7 << 3) | 2);
  const graphParts: Uint8Array[] = [];
  for (const t of initializers) {
    const raw = t.rawData;
    const meta = onnx.TensorProto.encode({ ...t, rawData: undefined }).finish();
    const parts = raw && raw.length > 0 ? [meta, TENSOR_RAW_DATA, varintBytes(raw.length), raw] : [meta];
    graphParts.push(GRAPH_INITIALIZER, varintBytes(lengthOf(parts)), ...parts);
  }
  return Buffer.concat([head, MODEL_GRAPH, varintBytes(lengthOf(graphParts)), ...graphParts]);
}

/** Element type of each tensor whose type the graph declares (inputs, outputs, value_info, initializers). */
export function declaredElemTypes(graph: onnx.IGraphProto): Map<string, number> {
  const m = new Map<string, number>();
  for (const vi of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    const t = vi.type?.tensorType?.elemType;
    if (vi.name && t) m.set(vi.name, t);
  }
  for (const init of graph.initializer ?? []) if (init.name && init.dataType) m.set(init.name, init.dataType);
  return m;
}

/** Weight elements per floating type (FLOAT, FLOAT16, BFLOAT16, DOUBLE) among the graph's initialisers. */
export function floatWeightElements(graph: onnx.IGraphProto): Map<number, number> {
  const counts = new Map<number, number>();
  const floats = [TensorDataType.FLOAT, TensorDataType.FLOAT16, TensorDataType.BFLOAT16, TensorDataType.DOUBLE];
  for (const init of graph.initializer ?? []) {
    if (!init.dataType || !floats.includes(init.dataType)) continue;
    const n = (init.dims ?? []).reduce((a: number, d) => a * toNumber(d), 1);
    counts.set(init.dataType, (counts.get(init.dataType) ?? 0) + n);
  }
  return counts;
}

/** The floating type holding most weight elements (FLOAT for a float32 export, FLOAT16 for a half one). */
export function dominantFloatType(graph: onnx.IGraphProto): number {
  let best: number = TensorDataType.FLOAT,
    max = -1;
  for (const [t, n] of floatWeightElements(graph))
    if (n > max) {
      best = t;
      max = n;
    }
  return best;
}

/** Names a node reads, including outer-scope names read inside If/Loop/Scan subgraphs. */
export function nodeInputs(node: onnx.INodeProto): string[] {
  const names = (node.input ?? []).filter((n) => n !== '');
  for (const attr of node.attribute ?? []) {
    const graphs = [...(attr.g ? [attr.g] : []), ...(attr.graphs ?? [])];
    for (const g of graphs) {
      const local = new Set<string>([...(g.input ?? []).map((i) => i.name!), ...(g.initializer ?? []).map((i) => i.name!)]);
      for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
      for (const n of g.node ?? []) for (const i of nodeInputs(n)) if (!local.has(i)) names.push(i);
    }
  }
  return names;
}

/**
 * Keeps only what the given outputs need: the graph's outputs become `outputs`, and every node,
 * initializer and input that does not feed them is dropped (so the run stops after the deepest hook).
 */
export function pruneToOutputs(model: ModelProto, outputs: onnx.IValueInfoProto[]): void {
  const graph = graphOf(model);
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of graph.node) for (const o of n.output ?? []) producer.set(o, n);
  const neededNodes = new Set<onnx.INodeProto>();
  const neededTensors = new Set<string>();
  const stack = outputs.map((o) => o.name!);
  while (stack.length) {
    const t = stack.pop()!;
    if (neededTensors.has(t)) continue;
    neededTensors.add(t);
    const n = producer.get(t);
    if (n && !neededNodes.has(n)) {
      neededNodes.add(n);
      for (const i of nodeInputs(n)) stack.push(i);
    }
  }
  graph.node = graph.node.filter((n) => neededNodes.has(n));
  graph.initializer = graph.initializer.filter((i) => neededTensors.has(i.name!));
  graph.sparseInitializer = (graph.sparseInitializer ?? []).filter((i) => neededTensors.has(i.values?.name ?? ''));
  graph.input = graph.input.filter((i) => neededTensors.has(i.name!));
  graph.valueInfo = graph.valueInfo.filter((v) => neededTensors.has(v.name!));
  graph.output = outputs.map((o) => onnx.ValueInfoProto.create(o));
}

export function valueInfo(name: string, elemType?: number): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({ name, type: elemType ? { tensorType: { elemType } } : undefined });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: onnx.IAttributeProto[] = [],
): onnx.NodeProto {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute: attrs });
}

export function intAttr(name: string, i: number): onnx.AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}
