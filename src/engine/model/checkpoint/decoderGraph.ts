/**
 * The ONNX graph of a Llama-family checkpoint's decoder (decoderConfig.ts), built in memory from its
 * config.json and safetensors headers. Its weights are external data that point into the safetensors files
 * themselves (safetensors stores each tensor as raw little-endian bytes at a known offset, which is what ONNX
 * external data names), so nothing is converted or copied on disk; float16 and bfloat16 weights are cast to
 * float32 in the graph, which ONNX Runtime folds once when the session is created.
 *
 * The forward pass is transformers' modeling_llama.py / modeling_mistral.py / modeling_qwen2.py, eager
 * attention, in float32:
 * - RMSNorm: x * rsqrt(mean(x²) + eps), times the weight;
 * - attention: q, k, v projections, RoPE (rotate_half convention, angles position_ids x inv_freq), the KV heads
 *   repeated for their query heads, softmax(q kᵀ / sqrt(head_dim) + causal and padding mask) v, o_proj;
 * - MLP: down_proj(silu(gate_proj(x)) * up_proj(x));
 * - residual adds after attention and after the MLP.
 *
 * Nodes carry the module scopes torch.onnx's TorchScript exporter writes (`/model/layers.3/self_attn/...`,
 * the block's residual sums `/model/layers.3/Add` and `/model/layers.3/Add_1`), so model/hooks.ts finds every
 * hook point in it as it does in an export. The graph ends at the last block: no final norm, no lm_head
 * (report/unembedding.ts reads W_U from the checkpoint).
 *
 * With a LoRA adapter (loraAdapter.ts), each adapted projection adds its branch, B (A x) · scaling, to the base
 * product, as PEFT runs an unmerged adapter; the adapter's matrices are external data in its own file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../../core/errors';
import { commonFolder } from '../externalData';
import { intAttr, type ModelProto, TensorDataType, valueInfo } from '../onnxGraph';
import type { CheckpointFiles, CheckpointTensor } from './checkpointFiles';
import type { DecoderSpec } from './decoderConfig';
import type { LoraAdapter } from './loraAdapter';

const FLOAT = TensorDataType.FLOAT;
const INT64 = TensorDataType.INT64;
/** The lowest float32: the additive mask value transformers uses (torch.finfo(float32).min). */
const MASKED = -3.4028234663852886e38;
const DTYPES: Record<string, number> = { F32: FLOAT, F16: TensorDataType.FLOAT16, BF16: TensorDataType.BFLOAT16 };
/** Buffers some checkpoints saved beside the weights; they are derived from config.json here. */
const DERIVED = /\.rotary_emb\.inv_freq$/;

const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });

class ScopedGraph {
  nodes: onnx.INodeProto[] = [];
  inits: onnx.ITensorProto[] = [];
  floatOutputs: string[] = [];
  private counts = new Map<string, number>();
  /** Constants by name: each is added once, however often a builder asks for it. */
  private named = new Set<string>();

  /** A node named as torch names it: `${scope}/${opType}`, then `_1`, `_2`… within the scope. */
  op(scope: string, opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outputs = 1, float = true): string[] {
    const key = `${scope}/${opType}`;
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    const outs = Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ opType, input: inputs, output: outs, name, attribute: attrs });
    if (float) this.floatOutputs.push(...outs);
    return outs;
  }
  one(scope: string, opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], float = true): string {
    return this.op(scope, opType, inputs, attrs, 1, float)[0];
  }
  int64s(name: string, values: number[], dims = [values.length]): string {
    if (this.named.has(name)) return name;
    this.named.add(name);
    this.inits.push({ name, dataType: INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }
  floats(name: string, values: Float32Array, dims: number[]): string {
    if (this.named.has(name)) return name;
    this.named.add(name);
    this.inits.push({ name, dataType: FLOAT, dims, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }
}

/**
 * Builds the decoder's graph (with the adapter's branches when given). Its external data locations are relative
 * to `externalDataFolder`: the deepest folder holding every weight file, links resolved, as ONNX Runtime
 * requires of session.model_external_initializers_file_folder_path (see externalData.ts).
 */
export function buildDecoderGraph(
  spec: DecoderSpec,
  files: CheckpointFiles,
  configFile: string,
  adapter?: LoraAdapter,
): { model: ModelProto; externalDataFolder: string } {
  const g = new ScopedGraph();
  const resolved = new Map([...files.shards, ...(adapter ? [adapter.file] : [])].map((f) => [f, fs.realpathSync(f)]));
  const root = commonFolder([...resolved.values()], files.main);
  const locate = (file: string) => path.relative(root, resolved.get(file)!);
  const weights = new WeightReader(files, spec, g, configFile, locate);
  const { hidden, heads, kvHeads, headDim } = spec;

  // shapes: [B, S] of the batch, and the constants the reshapes use
  const bs = g.one('/model', 'Shape', ['input_ids'], [], false);
  const seqLen = g.one('/model', 'Gather', [bs, g.int64s('sae_diff.one', [1], [])], [intAttr('axis', 0)], false);
  const shapes = new Map<number, string>();
  /** [B, S, width]: the shape a projection's flat [B·S, width] output is given back. */
  const shapeOf = (width: number) => {
    if (!shapes.has(width))
      shapes.set(width, g.one('/model', 'Concat', [bs, g.int64s(`sae_diff.width_${width}`, [width])], [intAttr('axis', 0)], false));
    return shapes.get(width)!;
  };
  const flat = g.int64s('sae_diff.flat_shape', [-1, hidden]);
  const hiddenShape = shapeOf(hidden);

  // the mask: key j is visible to query i when j <= i and j is a real token (attention_mask); [B, 1, S, S]
  const idx = g.one('/model/mask', 'Range', [g.int64s('sae_diff.zero', [0], []), seqLen, g.int64s('sae_diff.step', [1], [])], [], false);
  const keys = g.one('/model/mask', 'Unsqueeze', [idx, g.int64s('sae_diff.axes_0', [0])], [], false);
  const queries = g.one('/model/mask', 'Unsqueeze', [idx, g.int64s('sae_diff.axes_1', [1])], [], false);
  const causal = g.one('/model/mask', 'LessOrEqual', [keys, queries], [], false);
  const real = g.one('/model/mask', 'Cast', ['attention_mask'], [intAttr('to', TensorDataType.BOOL)], false);
  const realKeys = g.one('/model/mask', 'Unsqueeze', [real, g.int64s('sae_diff.axes_1_2', [1, 2])], [], false);
  const visible = g.one('/model/mask', 'And', [causal, realKeys], [], false);
  const masked = g.floats('sae_diff.masked', Float32Array.of(MASKED), []);

  // RoPE: angles = position_ids x inv_freq, duplicated over the two halves; cos and sin [B, 1, S, head_dim]
  const positions = g.one('/model/rotary_emb', 'Cast', ['position_ids'], [intAttr('to', FLOAT)]);
  const invFreq = g.floats('sae_diff.inv_freq', spec.invFreq, [headDim / 2]);
  const freqs = g.one('/model/rotary_emb', 'Mul', [
    g.one('/model/rotary_emb', 'Unsqueeze', [positions, g.int64s('sae_diff.axes_2', [2])]),
    invFreq,
  ]);
  const angles = g.one('/model/rotary_emb', 'Concat', [freqs, freqs], [intAttr('axis', -1)]);
  const cos = g.one('/model/rotary_emb', 'Unsqueeze', [g.one('/model/rotary_emb', 'Cos', [angles]), 'sae_diff.axes_1']);
  const sin = g.one('/model/rotary_emb', 'Unsqueeze', [g.one('/model/rotary_emb', 'Sin', [angles]), 'sae_diff.axes_1']);
  const scale = g.floats('sae_diff.attention_scale', Float32Array.of(1 / Math.sqrt(headDim)), []);
  const headsShape = (n: number) => g.int64s(`sae_diff.heads_${n}`, [0, 0, n, headDim]);
  const toHeads = (scope: string, x: string, n: number) =>
    g.one(scope, 'Transpose', [g.one(scope, 'Reshape', [x, headsShape(n)])], [ints('perm', [0, 2, 1, 3])]);
  const rope = (scope: string, x: string) => {
    const [x1, x2] = g.op(scope, 'Split', [x], [intAttr('axis', -1)], 2);
    const rotated = g.one(scope, 'Concat', [g.one(scope, 'Neg', [x2]), x1], [intAttr('axis', -1)]);
    return g.one(scope, 'Add', [g.one(scope, 'Mul', [x, cos]), g.one(scope, 'Mul', [rotated, sin])]);
  };

  const lorasUsed = new Set<string>();
  const loraInitializers: onnx.ITensorProto[] = [];
  const loraMatrix = (name: string, t: CheckpointTensor, dims: number[]) => {
    if (dims.some((d, i) => d !== -1 && d !== t.shape[i])) {
      throw new SaeDiffError(
        `The adapter's '${name}' has shape [${t.shape}], which does not fit the base's [${dims.map((d) => (d === -1 ? '?' : d))}]`,
        {
          location: { file: adapter!.file },
          hint: 'The adapter was trained on another base model: give the base it was trained on.',
        },
      );
    }
    const dataType = DTYPES[t.dtype];
    if (dataType === undefined)
      throw new SaeDiffError(`The adapter's '${name}' is ${t.dtype}`, {
        location: { file: adapter!.file },
        hint: 'Save the adapter in float32, float16 or bfloat16.',
      });
    loraInitializers.push(external(`sae_diff.adapter.${name}`, t, dataType, locate(t.file)));
    return dataType === FLOAT
      ? `sae_diff.adapter.${name}`
      : g.one('/model/weights', 'Cast', [`sae_diff.adapter.${name}`], [intAttr('to', FLOAT)]);
  };

  /** x [B, S, in] W^T (+ b) (+ the adapter's branch) -> [B, S, out], as Gemms on the flattened tokens. */
  const linear = (scope: string, x: string, name: string, width: number, bias: boolean, xWidth: number) => {
    const flatX = g.one(scope, 'Reshape', [x, xWidth === hidden ? flat : g.int64s(`sae_diff.flat_${xWidth}`, [-1, xWidth])]);
    const inputs = [flatX, weights.get(`${name}.weight`, [width, xWidth])];
    if (bias) inputs.push(weights.get(`${name}.bias`, [width]));
    let y = g.one(scope, 'Gemm', inputs, [intAttr('transB', 1)]);
    const lora = adapter?.modules.get(name);
    if (lora) {
      lorasUsed.add(name);
      const a = loraMatrix(`${name}.lora_A.weight`, lora.a, [-1, xWidth]);
      const b = loraMatrix(`${name}.lora_B.weight`, lora.b, [width, -1]);
      const branch = g.one(
        `${scope}/lora_B`,
        'Gemm',
        [g.one(`${scope}/lora_A`, 'Gemm', [flatX, a], [intAttr('transB', 1)]), b],
        [intAttr('transB', 1)],
      );
      const scaled = g.one(scope, 'Mul', [branch, g.floats(`sae_diff.lora_scaling_${lora.scaling}`, Float32Array.of(lora.scaling), [])]);
      y = g.one(scope, 'Add', [y, scaled]);
    }
    return g.one(scope, 'Reshape', [y, width === hidden ? hiddenShape : shapeOf(width)]);
  };
  const rmsNorm = (scope: string, x: string, weightName: string) => {
    const meanSquare = g.one(scope, 'ReduceMean', [g.one(scope, 'Mul', [x, x])], [ints('axes', [-1]), intAttr('keepdims', 1)]);
    const eps = g.floats('sae_diff.eps', Float32Array.of(spec.rmsNormEps), []);
    const inverse = g.one(scope, 'Reciprocal', [g.one(scope, 'Sqrt', [g.one(scope, 'Add', [meanSquare, eps])])]);
    return g.one(scope, 'Mul', [weights.get(weightName, [hidden]), g.one(scope, 'Mul', [x, inverse])]);
  };

  const prefix = weights.prefix;
  // the table is gathered from as stored and only its rows widened: a half table stays half in memory, and a
  // table above a WebGPU buffer can be gathered on the CPU (model/oversizedWeights.ts)
  const table = weights.get(`${prefix}embed_tokens.weight`, [-1, hidden], false);
  const rows = g.one('/model/embed_tokens', 'Gather', [table.name, 'input_ids'], [], table.dataType === FLOAT);
  let x = table.dataType === FLOAT ? rows : g.one('/model/embed_tokens', 'Cast', [rows], [intAttr('to', FLOAT)]);
  const repeat = heads / kvHeads;
  const kvExpanded = g.int64s('sae_diff.kv_expand', [1, 1, repeat, 1, 1]);
  const headsOut = g.int64s('sae_diff.heads_merged', [0, heads, -1, headDim]);
  for (let l = 0; l < spec.layers; l++) {
    const block = `/model/layers.${l}`;
    const w = `${prefix}layers.${l}`;
    const attnScope = `${block}/self_attn`;
    const normed = rmsNorm(`${block}/input_layernorm`, x, `${w}.input_layernorm.weight`);
    const q = linear(`${attnScope}/q_proj`, normed, `${w}.self_attn.q_proj`, heads * headDim, spec.qkvBias, hidden);
    const k = linear(`${attnScope}/k_proj`, normed, `${w}.self_attn.k_proj`, kvHeads * headDim, spec.qkvBias, hidden);
    const v = linear(`${attnScope}/v_proj`, normed, `${w}.self_attn.v_proj`, kvHeads * headDim, spec.qkvBias, hidden);
    const qr = rope(attnScope, toHeads(attnScope, q, heads));
    // repeat_kv: each KV head serves `repeat` consecutive query heads
    const repeatKv = (t: string) =>
      repeat === 1
        ? t
        : g.one(attnScope, 'Reshape', [
            g.one(attnScope, 'Expand', [g.one(attnScope, 'Unsqueeze', [t, 'sae_diff.axes_2']), kvExpanded]),
            headsOut,
          ]);
    const kr = repeatKv(rope(attnScope, toHeads(attnScope, k, kvHeads)));
    const vr = repeatKv(toHeads(attnScope, v, kvHeads));
    const scores = g.one(attnScope, 'Mul', [
      g.one(attnScope, 'MatMul', [qr, g.one(attnScope, 'Transpose', [kr], [ints('perm', [0, 1, 3, 2])])]),
      scale,
    ]);
    const probs = g.one(attnScope, 'Softmax', [g.one(attnScope, 'Where', [visible, scores, masked])], [intAttr('axis', -1)]);
    const context = g.one(attnScope, 'Transpose', [g.one(attnScope, 'MatMul', [probs, vr])], [ints('perm', [0, 2, 1, 3])]);
    const merged = g.one(attnScope, 'Reshape', [context, g.int64s('sae_diff.merge_heads', [0, 0, heads * headDim])]);
    const attnOut = linear(`${attnScope}/o_proj`, merged, `${w}.self_attn.o_proj`, hidden, spec.oBias, heads * headDim);
    const mid = g.one(block, 'Add', [x, attnOut]);
    const normed2 = rmsNorm(`${block}/post_attention_layernorm`, mid, `${w}.post_attention_layernorm.weight`);
    const mlp = `${block}/mlp`;
    const gate = linear(`${mlp}/gate_proj`, normed2, `${w}.mlp.gate_proj`, spec.intermediate, spec.mlpBias, hidden);
    const up = linear(`${mlp}/up_proj`, normed2, `${w}.mlp.up_proj`, spec.intermediate, spec.mlpBias, hidden);
    const act = g.one(`${mlp}/act_fn`, 'Mul', [gate, g.one(`${mlp}/act_fn`, 'Sigmoid', [gate])]);
    const down = linear(`${mlp}/down_proj`, g.one(mlp, 'Mul', [act, up]), `${w}.mlp.down_proj`, hidden, spec.mlpBias, spec.intermediate);
    x = g.one(block, 'Add', [mid, down]);
  }
  weights.checkAllUsed(prefix);
  const unused = [...(adapter?.modules.keys() ?? [])].find((m) => !lorasUsed.has(m));
  if (unused !== undefined) {
    throw new SaeDiffError(`The adapter adapts '${unused}', which the ${spec.family} graph has no projection for`, {
      location: { file: adapter!.file },
      hint: 'Merge the adapter into the base (merge_and_unload, then save_pretrained) and give that folder, or export the merged model to ONNX.',
    });
  }

  const declared = new Set(g.floatOutputs);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'sae-diff (safetensors checkpoint)',
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: path.basename(path.dirname(files.main)),
      node: g.nodes,
      initializer: [...g.inits, ...weights.initializers, ...loraInitializers],
      input: ['input_ids', 'attention_mask', 'position_ids'].map((name) => ({
        name,
        type: { tensorType: { elemType: INT64, shape: { dim: [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }] } } },
      })),
      output: [valueInfo(x, FLOAT)],
      // every activation is float32 whatever the weights' dtype (hookGraph casts only what is not)
      valueInfo: [...declared].filter((t) => t !== x).map((t) => valueInfo(t, FLOAT)),
    }),
  });
  return { model, externalDataFolder: root };
}

/** The checkpoint's tensors as graph initialisers: external data in place, half types cast to float32. */
class WeightReader {
  readonly initializers: onnx.ITensorProto[] = [];
  readonly prefix: string;
  private readonly used = new Set<string>();

  constructor(
    private readonly files: CheckpointFiles,
    private readonly spec: DecoderSpec,
    private readonly g: ScopedGraph,
    private readonly configFile: string,
    /** A weight file's location relative to the graph's external data folder. */
    private readonly locate: (file: string) => string,
  ) {
    // a LlamaModel saved without its causal-LM head names its tensors without the `model.` prefix
    this.prefix = files.tensors.has('model.embed_tokens.weight') || !files.tensors.has('embed_tokens.weight') ? 'model.' : '';
  }

  /** The float32 tensor `name` (dims checked against `dims`; -1 accepts any size). */
  get(name: string, dims: number[]): string;
  /** The tensor `name` as stored, and its ONNX type. */
  get(name: string, dims: number[], widen: false): { name: string; dataType: number };
  get(name: string, dims: number[], widen = true): string | { name: string; dataType: number } {
    const t = this.files.tensors.get(name);
    if (!t) {
      throw new SaeDiffError(`The checkpoint has no tensor '${name}', which a ${this.spec.family} model with this config.json needs`, {
        location: { file: this.files.main },
        hint: 'Check that config.json belongs to these weights (attention_bias, mlp_bias, num_hidden_layers), or export the model to ONNX.',
      });
    }
    if (t.shape.length !== dims.length || dims.some((d, i) => d !== -1 && d !== t.shape[i])) {
      throw new SaeDiffError(`'${name}' has shape [${t.shape}] but config.json implies [${dims.map((d) => (d === -1 ? '?' : d))}]`, {
        location: { file: this.files.main },
        hint: `Check that ${path.basename(this.configFile)} belongs to these weights.`,
      });
    }
    const dataType = DTYPES[t.dtype];
    if (dataType === undefined) {
      throw new SaeDiffError(`'${name}' is ${t.dtype}; checkpoints run from float32, float16 or bfloat16 weights`, {
        location: { file: this.files.main },
        hint: 'Save the model unquantised (save_pretrained after dequantising), or export it to ONNX.',
      });
    }
    this.used.add(name);
    this.initializers.push(external(name, t, dataType, this.locate(t.file)));
    if (!widen) return { name, dataType };
    return dataType === FLOAT ? name : this.g.one('/model/weights', 'Cast', [name], [intAttr('to', FLOAT)]);
  }

  /** Refuses a tensor the graph did not read (another architecture's, a quantisation's), naming it. */
  checkAllUsed(prefix: string): void {
    const ignored = new Set([`${prefix}norm.weight`, 'lm_head.weight']);
    for (const name of this.files.tensors.keys()) {
      if (this.used.has(name) || ignored.has(name) || DERIVED.test(name)) continue;
      throw new SaeDiffError(`The checkpoint holds '${name}', which a ${this.spec.family} model with this config.json does not have`, {
        location: { file: this.files.main },
        hint: 'The weights are of another architecture or carry a quantisation or adapter: export the model to ONNX, or merge the adapter first.',
      });
    }
  }
}

function external(name: string, t: CheckpointTensor, dataType: number, location: string): onnx.ITensorProto {
  return {
    name,
    dataType,
    dims: t.shape,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(t.offset) },
      { key: 'length', value: String(t.length) },
    ],
  };
}
