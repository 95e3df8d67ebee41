import { onnx } from 'onnx-proto';
import type { SaeWeights } from './loadSae';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const OPSET = 17;

/** Per-token outputs of the projection graph ([N] each; N tokens of base and N of the fine-tune). */
export const TOKEN_OUTPUTS = [
  'dot_h', // h_b . h_s
  'sq_hb', 'sq_hs', // |h|^2
  'dot_r', 'sq_rb', 'sq_rs', // reconstructions
  'err_b', 'err_s', // |h - r|^2
  'l1_zb', 'l1_zs', 'min_z', // |z|_1, and sum_i min(z_b,i, z_s,i): |z_s - z_b|_1 = |z_b|_1 + |z_s|_1 - 2 min_z
  'l0_b', 'l0_s', 'l0_both', // active counts and |A_b ∩ A_s|
] as const;

/** Per-feature batch sums ([m] each) and per-dimension sums ([d]). */
export const FEATURE_OUTPUTS = ['cnt_b', 'cnt_s', 'sum_zb', 'sum_zs', 'sum_min'] as const;
export const DIM_OUTPUTS = ['sum_hb', 'sum_hs'] as const;
/** Top-k features per token ([N, k]) and top tokens per feature ([m, c]). */
export const TOPK_OUTPUTS = ['topk_b_val', 'topk_b_idx', 'topk_s_val', 'topk_s_idx', 'ctx_b_val', 'ctx_b_idx', 'ctx_s_val', 'ctx_s_idx'] as const;

class GraphBuilder {
  nodes: onnx.INodeProto[] = [];
  inits: onnx.ITensorProto[] = [];
  private n = 0;
  op(opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outputs?: string[] | number): string[] {
    const outs = Array.isArray(outputs) ? outputs : Array.from({ length: outputs ?? 1 }, () => `t${this.n++}`);
    this.nodes.push({ opType, input: inputs, output: outs, name: `${opType}_${this.n++}`, attribute: attrs });
    return outs;
  }
  one(opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], output?: string): string {
    return this.op(opType, inputs, attrs, output ? [output] : 1)[0];
  }
  floats(name: string, data: Float32Array, dims: number[]): string {
    this.inits.push({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }
  ints(name: string, data: number[]): string {
    this.inits.push({ name, dataType: INT64, dims: [data.length], rawData: new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer) });
    return name;
  }
}

const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });

function addWeights(g: GraphBuilder, sae: SaeWeights): void {
  const { dIn: d, dSae: m } = sae;
  g.floats('W_enc', sae.W_enc, [d, m]);
  g.floats('b_enc', sae.b_enc, [m]);
  g.floats('W_dec', sae.W_dec, [m, d]);
  g.floats('b_dec', sae.b_dec, [d]);
  if (sae.threshold) g.floats('threshold', sae.threshold, [m]);
  if (sae.kSae) g.ints('k_sae', [Math.min(sae.kSae, m)]);
  if (sae.architecture !== 'standard') g.floats('zero', new Float32Array([0]), []);
}

/** METRICS.md's encoder f(x) per architecture, the decoder g(z), and the active mask, on input h. */
function addEncoder(g: GraphBuilder, sae: SaeWeights, h: string, tag: string) {
  const x = sae.applyBDecToInput ? g.one('Sub', [h, 'b_dec']) : h;
  const pre = g.one('Gemm', [x, 'W_enc', 'b_enc']);
  let z: string;
  if (sae.architecture === 'standard') z = g.one('Relu', [pre], [], `z_${tag}`);
  else if (sae.architecture === 'jumprelu') z = g.one('Where', [g.one('Greater', [pre, 'threshold']), pre, 'zero'], [], `z_${tag}`);
  else {
    // topk: relu of the k_sae largest pre-activations, scattered back into a zero row
    const [vals, idx] = g.op('TopK', [pre, 'k_sae'], [int('axis', 1), int('largest', 1), int('sorted', 0)], 2);
    const zeros = g.one('Mul', [pre, 'zero']);
    z = g.one('ScatterElements', [zeros, idx, g.one('Relu', [vals])], [int('axis', 1)], `z_${tag}`);
  }
  const r = g.one('Add', [g.one('MatMul', [z, 'W_dec']), 'b_dec']);
  // z >= 0, so sign(z) is the active mask as 0/1 floats in one pass
  const active = g.one('Sign', [z]);
  return { pre, z, r, active };
}

function tensorInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) } } } };
}

function encodeModel(g: GraphBuilder, name: string, inputs: onnx.IValueInfoProto[], outputs: onnx.IValueInfoProto[]): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'sae-diff',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name, node: g.nodes, initializer: g.inits, input: inputs, output: outputs },
  }).finish();
}

/** The encoder alone (x [N, d] -> z [N, m], r [N, d]): for checks against a direct computation. */
export function buildEncoderGraph(sae: SaeWeights): Uint8Array {
  const g = new GraphBuilder();
  addWeights(g, sae);
  const { z, r } = addEncoder(g, sae, 'x', 'x');
  g.one('Identity', [z], [], 'z');
  g.one('Identity', [r], [], 'r');
  return encodeModel(g, 'sae_encoder', [tensorInfo('x', FLOAT, ['N', sae.dIn])], [tensorInfo('z', FLOAT, ['N', sae.dSae]), tensorInfo('r', FLOAT, ['N', sae.dIn])]);
}

/**
 * Builds the projection graph for one SAE: both models' activations in, everything METRICS.md needs out,
 * reduced to per-token scalars, per-feature sums and top-k lists (never [tokens x width] to JavaScript).
 * Inputs: hb, hs [N, d] float32; k_top [1] int64 (per-token top-k), k_ctx [1] int64 (top tokens per feature).
 */
export function buildProjectionGraph(sae: SaeWeights): Uint8Array {
  const g = new GraphBuilder();
  const { dIn: d, dSae: m } = sae;
  addWeights(g, sae);
  g.ints('axis0', [0]);
  g.ints('axis1', [1]);

  const encode = (h: string, tag: string) => addEncoder(g, sae, h, tag);
  const b = encode('hb', 'b');
  const s = encode('hs', 's');

  const rowSum = (t: string, out: string) => g.one('ReduceSum', [t, 'axis1'], [int('keepdims', 0)], out);
  const colSum = (t: string, out: string) => g.one('ReduceSum', [t, 'axis0'], [int('keepdims', 0)], out);
  // |x|^2 with the same kernels as the dot products, so that identical activations give a cosine of exactly 1
  const rowSq = (t: string, out: string) => rowSum(g.one('Mul', [t, t]), out);

  rowSum(g.one('Mul', ['hb', 'hs']), 'dot_h');
  rowSq('hb', 'sq_hb');
  rowSq('hs', 'sq_hs');
  rowSum(g.one('Mul', [b.r, s.r]), 'dot_r');
  rowSq(b.r, 'sq_rb');
  rowSq(s.r, 'sq_rs');
  rowSq(g.one('Sub', ['hb', b.r]), 'err_b');
  rowSq(g.one('Sub', ['hs', s.r]), 'err_s');
  rowSum(b.z, 'l1_zb');
  rowSum(s.z, 'l1_zs');
  // min(z_b, z_s) gives both the L1 distance (a + b - 2 min(a, b) for a, b >= 0) and the shared active set
  // (min > 0 iff both fire) in one pass over [N, m], instead of Sub + Abs + Mul
  const both = g.one('Min', [b.z, s.z]);
  rowSum(both, 'min_z');
  rowSum(b.active, 'l0_b');
  rowSum(s.active, 'l0_s');
  rowSum(g.one('Sign', [both]), 'l0_both');

  colSum(b.active, 'cnt_b');
  colSum(s.active, 'cnt_s');
  colSum(b.z, 'sum_zb');
  colSum(s.z, 'sum_zs');
  colSum(both, 'sum_min');
  colSum('hb', 'sum_hb');
  colSum('hs', 'sum_hs');

  // sorted descending; ties go to the lower index (ONNX TopK semantics), as METRICS.md asks
  g.op('TopK', [b.z, 'k_top'], [int('axis', 1), int('largest', 1), int('sorted', 1)], ['topk_b_val', 'topk_b_idx']);
  g.op('TopK', [s.z, 'k_top'], [int('axis', 1), int('largest', 1), int('sorted', 1)], ['topk_s_val', 'topk_s_idx']);
  // top tokens per feature: TopK along contiguous rows of z^T is much faster than along axis 0
  g.op('TopK', [g.one('Transpose', [b.z], [ints('perm', [1, 0])]), 'k_ctx'], [int('axis', 1), int('largest', 1), int('sorted', 1)], ['ctx_b_val', 'ctx_b_idx']);
  g.op('TopK', [g.one('Transpose', [s.z], [ints('perm', [1, 0])]), 'k_ctx'], [int('axis', 1), int('largest', 1), int('sorted', 1)], ['ctx_s_val', 'ctx_s_idx']);

  const outputs = [
    ...TOKEN_OUTPUTS.map((n) => tensorInfo(n, FLOAT, ['N'])),
    ...FEATURE_OUTPUTS.map((n) => tensorInfo(n, FLOAT, [m])),
    ...DIM_OUTPUTS.map((n) => tensorInfo(n, FLOAT, [d])),
    ...TOPK_OUTPUTS.map((n) => tensorInfo(n, n.endsWith('idx') ? INT64 : FLOAT, n.startsWith('topk') ? ['N', 'k'] : [m, 'c'])),
  ];
  const inputs = [tensorInfo('hb', FLOAT, ['N', d]), tensorInfo('hs', FLOAT, ['N', d]), tensorInfo('k_top', INT64, [1]), tensorInfo('k_ctx', INT64, [1])];
  return encodeModel(g, 'sae_projection', inputs, outputs);
}
