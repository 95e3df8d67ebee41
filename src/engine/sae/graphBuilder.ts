/**
 * Builds ONNX graphs in memory (onnx-proto): nodes, float weights that travel as in-memory external data or
 * fed inputs, matrices split into blocks under a buffer limit, If branches. The SAE graphs (saeGraph.ts,
 * reducedGraph.ts) are written with it.
 */
import { onnx } from 'onnx-proto';
import { encodeOnnxModel } from '../model/onnxGraph';
import type { GraphWithWeights } from '../runtime/session';

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const BOOL = onnx.TensorProto.DataType.BOOL;
export const INT32 = onnx.TensorProto.DataType.INT32;
/** The lowest float32: below every code, so padding never enters a top-k. */
export const LOWEST_FLOAT32 = -3.4028234663852886e38;
const OPSET = 17;

/**
 * Float initialisers of at least this many bytes (ONNX's convert_model_to_external_data default) travel
 * as external data held in memory, beside the protobuf instead of inside it: a 65,536 x 2048 SAE's
 * weights are then never copied into a protobuf buffer, nor parsed back out of one by ONNX Runtime.
 */
const EXTERNAL_MIN_BYTES = 1024;

/** A weight matrix stored as blocks (GraphBuilder.matrix): along its columns (axis 1) or its rows (axis 0). */
interface MatrixBlocks {
  axis: 0 | 1;
  names: string[];
  sizes: number[];
}

/** The graph-building calls an encoder piece needs (GraphBuilder has them). */
export interface GraphOps {
  op(opType: string, inputs: string[], attrs?: onnx.IAttributeProto[], outputs?: string[] | number): string[];
  one(opType: string, inputs: string[], attrs?: onnx.IAttributeProto[], output?: string): string;
  /** A float32 initialiser, returning its name. */
  floats(name: string, data: Float32Array, dims: number[]): string;
  /** An int64 [n] initialiser, returning its name. */
  ints(name: string, data: number[]): string;
  /** x W + bias for a weight matrix of the graph (whole or in blocks). */
  linear(x: string, w: string, bias: string): string;
}

export class GraphBuilder implements GraphOps {
  nodes: onnx.INodeProto[] = [];
  inits: onnx.ITensorProto[] = [];
  /** The weights too large to sit inside the protobuf (views of the weights, not copies): external data, or fed inputs. */
  large: { name: string; data: Float32Array; dims: number[] }[] = [];
  private n = 0;
  private readonly blocks = new Map<string, MatrixBlocks>();
  private readonly maxBufferBytes: number;

  constructor(readonly options: GraphOptions = {}) {
    this.maxBufferBytes = options.maxBufferBytes ?? Infinity;
  }

  op(opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outputs?: string[] | number): string[] {
    const outs = Array.isArray(outputs) ? outputs : Array.from({ length: outputs ?? 1 }, () => `t${this.n++}`);
    this.nodes.push({ opType, input: inputs, output: outs, name: `${opType}_${this.n++}`, attribute: attrs });
    return outs;
  }
  one(opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], output?: string): string {
    return this.op(opType, inputs, attrs, output ? [output] : 1)[0];
  }
  /** A float32 initialiser: in the protobuf when small, else one of `large` (encodeModel decides how it travels). */
  floats(name: string, data: Float32Array, dims: number[]): string {
    if (data.byteLength < EXTERNAL_MIN_BYTES) {
      this.inits.push({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    } else {
      this.large.push({ name, data, dims });
    }
    return name;
  }
  /**
   * A [rows, cols] float32 weight, split into blocks along `axis` when it exceeds maxBufferBytes (WebGPU
   * binds each tensor as one buffer). Rows are contiguous, so row blocks are views; column blocks are
   * copies. matmul() and linear() multiply by the whole matrix either way.
   */
  matrix(name: string, data: Float32Array, rows: number, cols: number, axis: 0 | 1): string {
    if (data.byteLength <= this.maxBufferBytes) return this.floats(name, data, [rows, cols]);
    const along = axis === 0 ? rows : cols;
    const fitting = Math.floor(this.maxBufferBytes / ((axis === 0 ? cols : rows) * 4));
    if (fitting < 1) throw new Error(`${name}: one ${axis === 0 ? 'row' : 'column'} exceeds ${this.maxBufferBytes} bytes`);
    // blocks of equal size (the last one smaller), each within the limit
    const step = Math.ceil(along / Math.ceil(along / fitting));
    const blocks: MatrixBlocks = { axis, names: [], sizes: [] };
    for (let from = 0; from < along; from += step) {
      const size = Math.min(step, along - from);
      const block = `${name}.${blocks.names.length}`;
      if (axis === 0) this.floats(block, data.subarray(from * cols, (from + size) * cols), [size, cols]);
      else {
        const out = new Float32Array(rows * size);
        for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + size), r * size);
        this.floats(block, out, [rows, size]);
      }
      blocks.names.push(block);
      blocks.sizes.push(size);
    }
    if (axis === 0) this.ints(`${name}.split`, blocks.sizes);
    this.blocks.set(name, blocks);
    return name;
  }
  /** x [N, rows] times the matrix `w` [rows, cols] (whole or in blocks). */
  matmul(x: string, w: string): string {
    const b = this.blocks.get(w);
    if (!b) return this.one('MatMul', [x, w]);
    if (b.axis === 1)
      return this.one(
        'Concat',
        b.names.map((block) => this.one('MatMul', [x, block])),
        [int('axis', 1)],
      );
    // row blocks: x's columns split to match, the partial products summed
    const pieces = this.op('Split', [x, `${w}.split`], [int('axis', 1)], b.names.length);
    return this.one(
      'Sum',
      b.names.map((block, i) => this.one('MatMul', [pieces[i], block])),
    );
  }
  /** x W + bias: one Gemm for a whole matrix. */
  linear(x: string, w: string, bias: string): string {
    return this.blocks.has(w) ? this.one('Add', [this.matmul(x, w), bias]) : this.one('Gemm', [x, w, bias]);
  }
  /**
   * The nodes `build` adds, taken out of this graph: the body of an If branch. Names stay unique across the
   * branches and the outer graph, which the branch reads by name (weights included).
   */
  branch(build: () => string[]): { nodes: onnx.INodeProto[]; outputs: string[] } {
    const outer = this.nodes;
    this.nodes = [];
    try {
      const outputs = build();
      return { nodes: this.nodes, outputs };
    } finally {
      this.nodes = outer;
    }
  }
  ints(name: string, data: number[]): string {
    this.inits.push({ name, dataType: INT64, dims: [data.length], rawData: new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer) });
    return name;
  }
}

export const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
export const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
export const float = (name: string, v: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v });

/** An empty tensor of these dims (one of them 0) as a node attribute: a Constant's value. */
export function tensorAttr(name: string, dataType: number, dims: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.TENSOR, t: { dataType, dims } };
}

/** A branch as an If node's graph attribute; `outputs` gives each output's type, in order (names are the branch's). */
export function graphAttr(
  name: string,
  graphName: string,
  branch: { nodes: onnx.INodeProto[]; outputs: string[] },
  outputs: onnx.IValueInfoProto[],
): onnx.IAttributeProto {
  return {
    name,
    type: onnx.AttributeProto.AttributeType.GRAPH,
    g: onnx.GraphProto.create({
      name: graphName,
      node: branch.nodes,
      output: branch.outputs.map((o, i) => ({ ...outputs[i], name: o })),
    }),
  };
}

export function tensorInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) } } },
  };
}

/** How an SAE graph holds its weights (runtime/bufferLimit.ts, runtime/session.ts's GraphWithWeights.weightInputs). */
export interface GraphOptions {
  /** No weight matrix initialiser above this many bytes: larger ones are split into blocks. */
  maxBufferBytes?: number;
  /** Weights over this many bytes in all are declared as inputs and fed with every run, not initialisers. */
  feedWeightsOver?: number;
}

/**
 * The graph and its large weights: fed as inputs when they exceed the builder's feedWeightsOver, else as
 * in-memory external data (onnx.proto's external data: location, here the key of an in-memory buffer,
 * offset and length).
 */
export function encodeModel(
  g: GraphBuilder,
  name: string,
  inputs: onnx.IValueInfoProto[],
  outputs: onnx.IValueInfoProto[],
): GraphWithWeights {
  const largeBytes = g.large.reduce((n, w) => n + w.data.byteLength, 0);
  const feed = g.options.feedWeightsOver !== undefined && largeBytes > g.options.feedWeightsOver;
  const external = (w: GraphBuilder['large'][number]): onnx.ITensorProto => ({
    name: w.name,
    dataType: FLOAT,
    dims: w.dims,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: `${w.name}.bin` },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(w.data.byteLength) },
    ],
  });
  const model = encodeOnnxModel({
    irVersion: 8,
    producerName: 'sae-diff',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: onnx.GraphProto.create({
      name,
      node: g.nodes,
      initializer: feed ? g.inits : [...g.inits, ...g.large.map(external)],
      input: feed ? [...inputs, ...g.large.map((w) => tensorInfo(w.name, FLOAT, w.dims))] : inputs,
      output: outputs,
    }),
  });
  if (feed) return { model, externalData: [], weightInputs: g.large };
  const bytes = (data: Float32Array) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { model, externalData: g.large.map((w) => ({ path: `${w.name}.bin`, data: bytes(w.data) })) };
}

/** ONNX TopK, largest first and sorted (ties to the lower index): [values, indices] of x's top k along `axis`. */
export function topK(g: GraphOps, x: string, k: string, axis: number): string[] {
  return g.op('TopK', [x, k], [int('axis', axis), int('largest', 1), int('sorted', 1)], 2);
}
