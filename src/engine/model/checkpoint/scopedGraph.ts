/**
 * An ONNX graph under construction whose nodes are named as torch.onnx's TorchScript exporter names them
 * (`${scope}/${opType}`, then `_1`, `_2`… within the scope), so that model/hooks.ts reads its module scopes,
 * and whose outputs carry their element types (hookGraph casts a hooked tensor that is not float32).
 */
import { onnx } from 'onnx-proto';
import { intAttr, TensorDataType } from '../onnxGraph';

export const FLOAT = TensorDataType.FLOAT;
export const FLOAT16 = TensorDataType.FLOAT16;
export const INT64 = TensorDataType.INT64;

export const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });

export class ScopedGraph {
  nodes: onnx.INodeProto[] = [];
  inits: onnx.ITensorProto[] = [];
  /** Element type of each output whose type is declared (activations and their float32 parts). */
  readonly types = new Map<string, number>();
  private counts = new Map<string, number>();
  /** Constants by name: each is added once, however often a builder asks for it. */
  private named = new Set<string>();

  /** `act`: the activations' element type, what an output has unless told otherwise. */
  constructor(readonly act: number) {}

  /** `type`: the outputs' element type; null leaves it undeclared (shapes, masks). */
  op(
    scope: string,
    opType: string,
    inputs: string[],
    attrs: onnx.IAttributeProto[] = [],
    outputs = 1,
    type: number | null = this.act,
  ): string[] {
    const key = `${scope}/${opType}`;
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    const outs = Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ opType, input: inputs, output: outs, name, attribute: attrs });
    if (type !== null) for (const o of outs) this.types.set(o, type);
    return outs;
  }
  one(scope: string, opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], type: number | null = this.act): string {
    return this.op(scope, opType, inputs, attrs, 1, type)[0];
  }
  /** x as `to`; x itself when it already is (`from`). */
  cast(scope: string, x: string, from: number, to: number): string {
    return from === to ? x : this.one(scope, 'Cast', [x], [intAttr('to', to)], to);
  }
  int64s(name: string, values: number[], dims = [values.length]): string {
    if (this.named.has(name)) return name;
    this.named.add(name);
    this.inits.push({ name, dataType: INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }
  /** A float32 constant. */
  floats(name: string, values: Float32Array, dims: number[]): string {
    if (this.named.has(name)) return name;
    this.named.add(name);
    this.inits.push({ name, dataType: FLOAT, dims, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }
}
