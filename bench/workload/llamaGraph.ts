import { onnx } from 'onnx-proto';
import { WeightStore } from './weightStore';

export interface LlamaSizes {
  hidden: number;
  layers: number;
  inter: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  fp16: boolean;
}

/** Fills one weight: a random matrix, or a norm's ones. The generator decides the values (and the fine-tune's noise). */
export type WeightSource = (name: string, dims: number[], kind: 'matrix' | 'ones') => void;

const T = onnx.TensorProto.DataType;
const ROPE_THETA = 10000;
const RMS_EPS = 1e-5;

/**
 * A Llama decoder as torch.onnx.export (TorchScript) writes it: node names scoped by module
 * (`/model/layers.N/self_attn/...`), each block's residual sums directly in its scope
 * (`/model/layers.N/Add`, `/model/layers.N/Add_1`), which is how src/engine/model/hooks.ts finds
 * resid_post. Math follows transformers' LlamaForCausalLM: RMSNorm in float32, rotary embeddings,
 * causal + padding mask, grouped-query attention with softmax in float32, SiLU-gated MLP.
 */
export function buildLlamaGraph(s: LlamaSizes, store: WeightStore, weight: WeightSource): onnx.IModelProto {
  const nodes: onnx.INodeProto[] = [];
  const counts = new Map<string, number>();
  const act = s.fp16 ? T.FLOAT16 : T.FLOAT;
  const hd = s.hidden / s.heads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new Error(`hidden ${s.hidden} / heads ${s.heads} must be an even integer head size`);
  if (s.heads % s.kvHeads !== 0) throw new Error(`heads ${s.heads} must be a multiple of kv-heads ${s.kvHeads}`);

  /** Adds a node named like torch's exporter (`scope/Op`, `scope/Op_1`, ...); returns its outputs. */
  const node = (scope: string, op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], nOut = 1): string[] => {
    const base = `${scope}/${op}`;
    const c = counts.get(base) ?? 0;
    counts.set(base, c + 1);
    const name = c === 0 ? base : `${base}_${c}`;
    const output = Array.from({ length: nOut }, (_, i) => `${name}_output_${i}`);
    nodes.push({ name, opType: op, input: inputs, output, attribute: attrs });
    return output;
  };
  const one = (scope: string, op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []) => node(scope, op, inputs, attrs)[0];
  const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
  const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
  const consts = new Map<string, string>();
  const i64 = (values: number[], scalar = false): string => {
    const name = `const_i64_${scalar ? 's' : 'v'}_${values.join('_').replace(/-/g, 'm')}`;
    if (!consts.has(name)) {
      store.addInt64(name, scalar ? [] : [values.length], values);
      consts.set(name, name);
    }
    return name;
  };
  const f32 = (v: number, half = false): string => {
    const name = `const_${half ? 'f16' : 'f32'}_${String(v).replace(/[-.]/g, (c) => (c === '-' ? 'm' : 'p'))}`;
    if (!consts.has(name)) {
      store.addFloat(name, [], Float32Array.of(v), half);
      consts.set(name, name);
    }
    return name;
  };
  const cast = (scope: string, x: string, to: number) => one(scope, 'Cast', [x], [int('to', to)]);
  const linear = (scope: string, x: string, name: string, inDim: number, outDim: number) => {
    weight(name, [inDim, outDim], 'matrix');
    return one(scope, 'MatMul', [x, name]);
  };
  const rmsNorm = (scope: string, x: string, name: string) => {
    const xf = s.fp16 ? cast(scope, x, T.FLOAT) : x;
    const sq = one(scope, 'Pow', [xf, f32(2)]);
    const mean = one(scope, 'ReduceMean', [sq], [ints('axes', [-1]), int('keepdims', 1)]);
    const std = one(scope, 'Sqrt', [one(scope, 'Add', [mean, f32(RMS_EPS)])]);
    const normed = one(scope, 'Div', [xf, std]);
    weight(name, [s.hidden], 'ones');
    return one(scope, 'Mul', [s.fp16 ? cast(scope, normed, T.FLOAT16) : normed, name]);
  };

  // shared by every block: the additive attention mask [B,1,S,S] and the rotary cos/sin [B,1,S,hd]
  const seqLen = one('/model', 'Gather', [one('/model', 'Shape', ['input_ids']), i64([1], true)], [int('axis', 0)]);
  const range = one('/model', 'Range', [i64([0], true), seqLen, i64([1], true)]);
  const causal = one('/model', 'LessOrEqual', [
    one('/model', 'Unsqueeze', [range, i64([0])]),
    one('/model', 'Unsqueeze', [range, i64([1])]),
  ]);
  const padding = one('/model', 'Unsqueeze', [cast('/model', 'attention_mask', T.BOOL), i64([1, 2])]);
  const maskBias = one('/model', 'Where', [one('/model', 'And', [causal, padding]), f32(0), f32(-1e9)]);
  const invFreq = Float32Array.from({ length: hd / 2 }, (_, i) => 1 / Math.pow(ROPE_THETA, (2 * i) / hd));
  store.addFloat('model.rotary_emb.inv_freq', [hd / 2], invFreq, false);
  const rs = '/model/rotary_emb';
  const freqs = one(rs, 'Mul', [one(rs, 'Unsqueeze', [cast(rs, 'position_ids', T.FLOAT), i64([2])]), 'model.rotary_emb.inv_freq']);
  const emb = one(rs, 'Concat', [freqs, freqs], [int('axis', -1)]);
  const rope = (op: 'Cos' | 'Sin') => {
    const v = one(rs, 'Unsqueeze', [one(rs, op, [emb]), i64([1])]);
    return s.fp16 ? cast(rs, v, T.FLOAT16) : v;
  };
  const cos = rope('Cos'),
    sin = rope('Sin');

  weight('model.embed_tokens.weight', [s.vocab, s.hidden], 'matrix');
  let h = one('/model/embed_tokens', 'Gather', ['model.embed_tokens.weight', 'input_ids'], [int('axis', 0)]);

  for (let l = 0; l < s.layers; l++) {
    const b = `/model/layers.${l}`,
      w = `model.layers.${l}`;
    const a = `${b}/self_attn`;
    const xn = rmsNorm(`${b}/input_layernorm`, h, `${w}.input_layernorm.weight`);
    const heads = (proj: string, n: number) =>
      one(
        a,
        'Transpose',
        [one(a, 'Reshape', [linear(`${a}/${proj}`, xn, `${w}.self_attn.${proj}.weight`, s.hidden, n * hd), i64([0, 0, n, hd])])],
        [ints('perm', [0, 2, 1, 3])],
      );
    const rotate = (x: string) => {
      const x1 = one(a, 'Slice', [x, i64([0]), i64([hd / 2]), i64([3])]);
      const x2 = one(a, 'Slice', [x, i64([hd / 2]), i64([hd]), i64([3])]);
      const rotated = one(a, 'Concat', [one(a, 'Neg', [x2]), x1], [int('axis', -1)]);
      return one(a, 'Add', [one(a, 'Mul', [x, cos]), one(a, 'Mul', [rotated, sin])]);
    };
    const repeat = (x: string) => {
      const rep = s.heads / s.kvHeads;
      if (rep === 1) return x;
      const u = one(a, 'Unsqueeze', [x, i64([2])]);
      return one(a, 'Reshape', [one(a, 'Concat', Array(rep).fill(u), [int('axis', 2)]), i64([0, s.heads, -1, hd])]);
    };
    const q = rotate(heads('q_proj', s.heads));
    const k = repeat(rotate(heads('k_proj', s.kvHeads)));
    const v = repeat(heads('v_proj', s.kvHeads));
    let scores = one(a, 'MatMul', [q, one(a, 'Transpose', [k], [ints('perm', [0, 1, 3, 2])])]);
    if (s.fp16) scores = cast(a, scores, T.FLOAT);
    scores = one(a, 'Add', [one(a, 'Mul', [scores, f32(1 / Math.sqrt(hd))]), maskBias]);
    let probs = one(a, 'Softmax', [scores], [int('axis', -1)]);
    if (s.fp16) probs = cast(a, probs, T.FLOAT16);
    const ctx = one(a, 'Reshape', [
      one(a, 'Transpose', [one(a, 'MatMul', [probs, v])], [ints('perm', [0, 2, 1, 3])]),
      i64([0, 0, s.hidden]),
    ]);
    h = one(b, 'Add', [h, linear(`${a}/o_proj`, ctx, `${w}.self_attn.o_proj.weight`, s.hidden, s.hidden)]);
    const m = `${b}/mlp`;
    const xm = rmsNorm(`${b}/post_attention_layernorm`, h, `${w}.post_attention_layernorm.weight`);
    const gate = linear(`${m}/gate_proj`, xm, `${w}.mlp.gate_proj.weight`, s.hidden, s.inter);
    const silu = one(`${m}/act_fn`, 'Mul', [gate, one(`${m}/act_fn`, 'Sigmoid', [gate])]);
    const up = linear(`${m}/up_proj`, xm, `${w}.mlp.up_proj.weight`, s.hidden, s.inter);
    h = one(b, 'Add', [h, linear(`${m}/down_proj`, one(m, 'Mul', [silu, up]), `${w}.mlp.down_proj.weight`, s.inter, s.hidden)]);
  }
  const logits = linear('/lm_head', rmsNorm('/model/norm', h, 'model.norm.weight'), 'lm_head.weight', s.hidden, s.vocab);
  nodes.push({ name: '/Identity_logits', opType: 'Identity', input: [logits], output: ['logits'] });

  const io = (name: string, elemType: number, dims: (string | number)[]): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  return {
    irVersion: 8,
    producerName: 'sae-diff bench (synthetic Llama)',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'main_graph',
      node: nodes,
      initializer: store.initializers,
      input: ['input_ids', 'attention_mask', 'position_ids'].map((n) => io(n, T.INT64, ['batch_size', 'sequence_length'])),
      output: [io('logits', act, ['batch_size', 'sequence_length', s.vocab])],
    },
  };
}
