/**
 * The ONNX graph of a Llama-family checkpoint's decoder (decoderConfig.ts), built in memory from its
 * config.json and safetensors headers. Its weights are external data that point into the safetensors files
 * themselves (safetensors stores each tensor as raw little-endian bytes at a known offset, which is what ONNX
 * external data names), so nothing is converted or copied on disk (checkpointWeights.ts).
 *
 * The forward pass is transformers' modeling_llama.py / modeling_mistral.py / modeling_qwen2.py /
 * modeling_qwen3.py / modeling_gemma2.py / modeling_gemma3.py (text) / modeling_phi3.py / modeling_smollm3.py /
 * modeling_olmo2.py / modeling_olmo3.py / modeling_granite.py, eager attention:
 * - RMSNorm: x * rsqrt(mean(x²) + eps) in float32, times the weight (Gemma: times 1 + weight, in float32);
 * - attention: q, k, v projections (Qwen3, Gemma 3: each head's q and k RMS-normalised over head_dim; OLMo 2: the
 *   whole q and k projections), RoPE
 *   (rotate_half convention, angles position_ids x inv_freq in float32; Gemma 3's sliding-window layers with
 *   their own base), the KV heads repeated for their query heads, softmax(q kᵀ · scale (Gemma: soft-capped) +
 *   causal and padding mask; sliding-window layers see only the last `sliding_window` positions) in float32,
 *   times v, o_proj;
 * - MLP: down_proj(act(gate_proj(x)) * up_proj(x)), act SiLU or (Gemma) GELU's tanh approximation; Mixtral,
 *   Qwen2/3-MoE and OLMoE: a routed mixture of such experts; GPT-OSS: its own experts (moeBlock.ts), and sinks in its
 *   attention's softmax;
 * - residual adds after attention and after the MLP (Gemma: the attention output and the MLP's input and output
 *   normalised too, and the embedding scaled by sqrt(hidden_size); OLMo 2: no norm in front of attention or the MLP,
 *   one after each; Granite: each branch times residual_multiplier, the embedding times embedding_multiplier).
 *
 * It computes in float32, or in float16 (`compute`: a GPU run of a float16 checkpoint, as transformers runs it
 * with torch_dtype=float16: activations and products in float16; the norms' statistics, RoPE angles and
 * softmax in float32, rounded back to float16 where transformers rounds them). bfloat16 checkpoints compute in
 * float32 (ONNX Runtime's GPU providers lack bfloat16 kernels; widening is exact).
 *
 * Nodes carry the module scopes torch.onnx's TorchScript exporter writes (`/model/layers.3/self_attn/...`,
 * the block's residual sums `/model/layers.3/Add` and `/model/layers.3/Add_1`), so model/hooks.ts finds every
 * hook point in it as it does in an export. The graph ends at the last block: no final norm, no lm_head
 * (report/unembedding.ts reads W_U from the checkpoint).
 *
 * With a LoRA adapter (loraAdapter.ts), each adapted projection adds its branch, B (A x) · scaling, computed in
 * float32, to the base product, as PEFT runs an unmerged adapter.
 */
import { intAttr, type ModelProto } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import type { DecoderSpec } from './decoderConfig';
import { LLAMA_NAMES } from './moduleNames';
import { decoderModel, geluTanh, layerNorm, repeatKv, rmsNormalized, Rotary, startGraph } from './graphParts';
import { gatedDeltaNet, type LinearAttentionContext } from './linearAttention';
import { mamba2 } from './mamba2';
import { softplus } from './recurrentParts';
import { shortConv } from './shortConv';
import type { LoraAdapter } from './loraAdapter';
import { moeBlock, type MoeContext } from './moeBlock';
import { FLOAT, FLOAT16, INT64, ints } from './scopedGraph';

/** Glm4MoeLiteRMSNorm's default eps, which its attention's q_a_layernorm and kv_a_layernorm keep. */
const LATENT_NORM_EPS = 1e-6;

export interface DecoderGraphOptions {
  adapter?: LoraAdapter;
  /** The activations' type: float32, or float16 for a float16 checkpoint on a GPU. */
  compute?: 'float32' | 'float16';
}

/** Builds the decoder's graph; its external data locations are relative to `externalDataFolder` (graphParts.ts startGraph). */
export function buildDecoderGraph(
  spec: DecoderSpec,
  files: CheckpointFiles,
  configFile: string,
  options: DecoderGraphOptions = {},
): { model: ModelProto; externalDataFolder: string } {
  const { adapter } = options;
  const act = options.compute === 'float16' ? FLOAT16 : FLOAT;
  const { g, weights, frame, projections, externalDataFolder } = startGraph(spec, files, configFile, adapter, act, '/model');
  const { hidden, heads, headDim } = spec;
  const visible = frame.visible;
  const windowVisible = spec.slidingWindow === undefined ? visible : frame.windowVisible(spec.slidingWindow);
  const masked = frame.masked;

  const rs = '/model/rotary_emb';
  const rotaryDim = spec.rotaryDim;
  const rotation = new Rotary(g, rs, rotaryDim, headDim, spec.rotaryInterleaved);
  let globalTable = g.floats('sae_diff.inv_freq', spec.invFreq, [rotaryDim / 2]);
  if (spec.longInvFreq && spec.longropeFrom !== undefined) {
    // longrope_frequency_update: the long factors when max(position_ids) + 1 passes original_max_position_embeddings
    const longest = g.one(
      rs,
      'Add',
      [g.one(rs, 'ReduceMax', ['position_ids'], [intAttr('keepdims', 0)], INT64), 'sae_diff.one'],
      [],
      INT64,
    );
    const isLong = g.one(rs, 'Greater', [longest, g.int64s('sae_diff.longrope_from', [spec.longropeFrom], [])], [], null);
    globalTable = g.one(
      rs,
      'Where',
      [isLong, g.floats('sae_diff.long_inv_freq', spec.longInvFreq, [rotaryDim / 2]), globalTable],
      [],
      FLOAT,
    );
  }
  const globalRotary = rotation.tables(globalTable, spec.ropeAttentionFactor);
  // Gemma 3's sliding-window layers rotate with their own base (rope_local_base_freq)
  const localRotary = spec.slidingInvFreq
    ? rotation.tables(g.floats('sae_diff.local_inv_freq', spec.slidingInvFreq, [rotaryDim / 2]))
    : globalRotary;
  const scale = g.floats('sae_diff.attention_scale', Float32Array.of(spec.attentionScale), []);
  const queryScale = spec.queryPositionScale && llama4QueryScale(spec.queryPositionScale);
  /**
   * [B, S, n·size] -> [B, n, S, size] (size: the layer's head_dim); `norm`: the per-head RMSNorm of Qwen3 / Gemma 3
   * (module, weight; Gemma 4's v_norm has none).
   */
  const toHeads = (scope: string, x: string, n: number, size: number, norm?: { module: string; weight?: string }) => {
    let split = g.one(scope, 'Reshape', [x, g.int64s(`sae_diff.heads_${n}_${size}`, [0, 0, n, size])]);
    // CohereLayerNorm over each head, its weight per head
    if (norm && spec.qkNorm === 'head_layernorm')
      split = layerNorm(g, weights, `${scope}/${norm.module}`, split, `${norm.weight!.replace(/\.weight$/, '')}`, size, spec.rmsNormEps, {
        bias: false,
        weightDims: [n, size],
      });
    else if (norm) split = rmsNorm(`${scope}/${norm.module}`, split, norm.weight, size);
    return g.one(scope, 'Transpose', [split], [ints('perm', [0, 2, 1, 3])]);
  };

  const linear = projections.linear.bind(projections);
  /** RMSNorm over x's last axis, of `width` (hidden, or head_dim for Qwen3's q_norm / k_norm); no weight: normalised only. */
  const rmsNorm = (scope: string, x: string, weightName: string | undefined, width = hidden, eps = spec.rmsNormEps) => {
    const normed = rmsNormalized(g, scope, g.cast(scope, x, act, FLOAT), eps);
    // Gemma4RMSNorm(with_scale=False): normalised in float32, then to x's type
    if (weightName === undefined) return g.cast(scope, normed, FLOAT, act);
    if (spec.gemmaNorms) {
      // Gemma2RMSNorm: (x · rsqrt(...)) · (1 + weight), all in float32, then to x's type
      const weight = g.cast(scope, weights.get(weightName, [width]), act, FLOAT);
      const gain = g.one(scope, 'Add', [weight, g.floats('sae_diff.one_f32', Float32Array.of(1), [])], [], FLOAT);
      return g.cast(scope, g.one(scope, 'Mul', [normed, gain], [], FLOAT), FLOAT, act);
    }
    // Olmo2RMSNorm: (weight · x · rsqrt(...)) in float32, then to x's type
    if (spec.normWeightInFloat32)
      return g.cast(
        scope,
        g.one(scope, 'Mul', [g.cast(scope, weights.get(weightName, [width]), act, FLOAT), normed], [], FLOAT),
        FLOAT,
        act,
      );
    return g.one(scope, 'Mul', [weights.get(weightName, [width]), g.cast(scope, normed, FLOAT, act)]);
  };

  /** A block's norm `name` (`model.layers.N.input_layernorm`): RMSNorm, or StarCoder2's and StableLM's LayerNorm. */
  const blockNorm = (scope: string, x: string, name: string) =>
    spec.layerNorms
      ? layerNorm(g, weights, scope, x, name, hidden, spec.rmsNormEps, { bias: spec.layerNormBias })
      : rmsNorm(scope, x, `${name}.weight`);

  const silu = (scope: string, t: string) => g.one(scope, 'Mul', [t, g.one(scope, 'Sigmoid', [t])]);
  const names = spec.names ?? LLAMA_NAMES;
  /** A block module's weights as the checkpoint names them (its scope keeps the module's name, which hooks read). */
  const savedName = (module: string) => names.saved?.[module] ?? module;
  const linearContext: LinearAttentionContext = { g, weights, projections, frame, hidden };
  const moeContext: MoeContext = {
    g,
    weights,
    projections,
    hidden,
    flatShape: frame.flatShape(hidden),
    batchShape: frame.shapeOf(hidden),
    silu,
  };
  const prefix = weights.prefix;
  // the table is gathered from as stored and only its rows converted: a half table stays half in memory, and a
  // table above a WebGPU buffer can be gathered on the CPU (model/oversizedWeights.ts)
  let x = projections.embed('/model/embed_tokens', weights.embedding, hidden);
  // Gemma: hidden_states * torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype)
  if (spec.embedScale !== undefined)
    x = g.one('/model', 'Mul', [x, g.cast('/model', g.floats('sae_diff.embed_scale', Float32Array.of(spec.embedScale), []), FLOAT, act)]);
  const residualScale =
    spec.residualScale === undefined
      ? undefined
      : g.cast('/model', g.floats('sae_diff.residual_scale', Float32Array.of(spec.residualScale), []), FLOAT, act);
  const perLayerInputs = spec.gemma4Layers?.perLayerInput && gemma4PerLayerInputs(spec.gemma4Layers.perLayerInput.width, x);
  // Gemma 4 E2B / E4B: each source layer's keys and values (normalised, rotated, before repeat_kv) for the shared layers
  const sharedKv = new Map<number, { k: string; v: string }>();
  // Gemma 4's full-attention layers: their own head size, key/value heads and RoPE
  const fullShape = spec.layerAttention?.full;
  const fullRotation = fullShape && new Rotary(g, rs, fullShape.headDim, fullShape.headDim);
  const fullRotary =
    fullShape && fullRotation!.tables(g.floats(`sae_diff.full_inv_freq_${fullShape.headDim}`, fullShape.invFreq, [fullShape.headDim / 2]));
  for (let l = 0; l < spec.layers; l++) {
    const block = `/model/layers.${l}`;
    const w = `${prefix}layers.${l}`;
    // OLMo 2 normalises only after each branch
    // OLMo 2 and OLMo Hybrid's attention layers normalise only after each branch
    const postNorm = spec.postNormLayers?.[l] ?? spec.postNorms;
    const normed = postNorm ? x : blockNorm(`${block}/${names.inputNorm}`, x, `${w}.${savedName(names.inputNorm)}`);
    const attnOut = spec.falconH1
      ? falconMixers(l, block, w, normed, spec.falconH1)
      : spec.linearAttention?.layers[l]
        ? gatedDeltaNet(linearContext, spec.linearAttention, block, w, normed)
        : spec.shortConv?.layers[l]
          ? shortConv({ g, weights, projections, hidden }, spec.shortConv, block, w, normed)
          : spec.mamba?.layers[l]
            ? mamba2({ g, weights, projections, hidden, eps: spec.rmsNormEps }, spec.mamba, block, w, normed)
            : spec.mla
              ? latentAttention(l, block, w, normed)
              : selfAttention(l, block, w, normed);
    if (spec.parallelBlock) {
      // CohereDecoderLayer: residual + attention(h) + mlp(h), one norm h; summed attention + MLP first, as Phi's block
      // is, so that no sum of the residual and one branch poses as resid_mid (float32 rounding apart, the same)
      x = g.one(block, 'Add', [g.one(block, 'Add', [attnOut, denseMlp(block, w, normed)]), x]);
      continue;
    }
    // Gemma 2 normalises the attention output before the residual add, and the MLP's input and output; OLMo 2 the
    // attention and MLP outputs only
    const gemma = spec.sandwichNorms;
    const afterBranch = gemma || postNorm;
    // GLM-4 names its branch norms post_self_attn_layernorm and post_mlp_layernorm (its post_attention_layernorm is
    // Llama's, in front of the MLP)
    const attnBranch = spec.branchNorms
      ? rmsNorm(`${block}/post_self_attn_layernorm`, attnOut, `${w}.post_self_attn_layernorm.weight`)
      : afterBranch
        ? rmsNorm(`${block}/post_attention_layernorm`, attnOut, `${w}.${savedName('post_attention_layernorm')}.weight`)
        : attnOut;
    // Granite: residual + hidden_states * residual_multiplier (in the block, as the exporters scope it)
    const scaled = (branch: string) => (residualScale ? g.one(block, 'Mul', [branch, residualScale]) : branch);
    const mid = g.one(block, 'Add', [x, scaled(attnBranch)]);
    const normed2 = postNorm
      ? mid
      : gemma
        ? rmsNorm(`${block}/pre_feedforward_layernorm`, mid, `${w}.pre_feedforward_layernorm.weight`)
        : blockNorm(`${block}/${names.mlpNorm}`, mid, `${w}.${savedName(names.mlpNorm)}`);
    const mlpBranch = spec.moe?.sparseLayers[l]
      ? spec.moe.fused === 'gemma4'
        ? gemma4MlpAndExperts(block, w, mid, normed2)
        : spec.moe.fused === 'granite' && spec.intermediate > 0
          ? // GraniteMoeHybridDecoderLayer, GraniteMoeSharedDecoderLayer: block_sparse_moe(h) + shared_mlp(h), summed in
            // the MoE's scope (mlp_out)
            g.one(`${block}/block_sparse_moe`, 'Add', [moeBlock(moeContext, spec.moe, block, w, normed2), denseMlp(block, w, normed2)])
          : moeBlock(moeContext, spec.moe, block, w, normed2)
      : spec.branchNorms
        ? rmsNorm(`${block}/post_mlp_layernorm`, denseMlp(block, w, normed2), `${w}.post_mlp_layernorm.weight`)
        : afterBranch
          ? rmsNorm(
              `${block}/post_feedforward_layernorm`,
              denseMlp(block, w, normed2, spec.gemma4Layers?.wideMlp[l] ? 2 * spec.intermediate : spec.intermediate),
              `${w}.post_feedforward_layernorm.weight`,
            )
          : denseMlp(block, w, normed2);
    x = g.one(block, 'Add', [mid, scaled(mlpBranch)]);
    if (perLayerInputs) x = perLayerInputBranch(l, block, w, x, perLayerInputs);
    // Gemma 4: hidden_states *= self.layer_scalar, after the MLP's residual sum (model/hooks.ts reads resid_post after it)
    if (spec.layerScalar) x = g.one(`${block}/layer_scalar`, 'Mul', [x, weights.get(`${w}.layer_scalar`, [1])]);
  }
  weights.checkAllUsed();
  projections.checkAdapterUsed(spec.family, spec.visionTower);
  return { model: decoderModel(g, weights, files, x), externalDataFolder };

  /**
   * Ministral3Attention's get_llama_4_attn_scale: 1 + beta · ln(1 + floor(position_ids / original)) in float32, as
   * [B, 1, S, 1] in the activations' type.
   */
  function llama4QueryScale({ beta, original }: { beta: number; original: number }): string {
    const s = '/model/rotary_emb';
    const f32 = (op: string, inputs: string[]) => g.one(s, op, inputs, [], FLOAT);
    const positions = g.one(s, 'Cast', ['position_ids'], [intAttr('to', FLOAT)], FLOAT);
    const steps = f32('Floor', [f32('Div', [positions, g.floats(`sae_diff.llama4_original_${original}`, Float32Array.of(original), [])])]);
    const one = g.floats('sae_diff.one_f32', Float32Array.of(1), []);
    const logged = f32('Log', [f32('Add', [steps, one])]);
    const factor = f32('Add', [f32('Mul', [logged, g.floats(`sae_diff.llama4_beta_${beta}`, Float32Array.of(beta), [])]), one]);
    return g.cast(s, g.one(s, 'Unsqueeze', [factor, g.int64s('sae_diff.axes_1_3', [1, 3])], [], FLOAT), FLOAT, act);
  }

  /** Layer l's self-attention on its normed input: o_proj's output. */
  function selfAttention(l: number, block: string, w: string, normed: string): string {
    const attn = `${block}/self_attn`;
    const sliding = spec.slidingLayers?.[l] === true;
    const full = sliding ? undefined : fullShape;
    const headDim = full?.headDim ?? spec.headDim;
    const kvHeads = full?.kvHeads ?? spec.kvHeads;
    const source = spec.gemma4Layers?.kvSource[l];
    let q: string, k: string, v: string;
    let outputGate: string | undefined;
    if (spec.fusedProjections) {
      // Phi-3: qkv_proj's output is q, then k, then v
      const qkv = linear(`${attn}/qkv_proj`, normed, `${w}.self_attn.qkv_proj`, (heads + 2 * kvHeads) * headDim, false, hidden);
      const sizes = g.int64s('sae_diff.qkv_split', [heads * headDim, kvHeads * headDim, kvHeads * headDim]);
      [q, k, v] = g.op(attn, 'Split', [qkv, sizes], [intAttr('axis', -1)], 3);
    } else if (spec.attentionOutputGate) {
      // Qwen 3.5: q_proj gives each head's query, then its gate (view(..., -1, head_dim * 2), chunk(2))
      const both = linear(`${attn}/q_proj`, normed, `${w}.self_attn.q_proj`, 2 * heads * headDim, spec.qkvBias, hidden);
      const [query, gateHeads] = g.op(
        attn,
        'Split',
        [g.one(attn, 'Reshape', [both, g.int64s(`sae_diff.query_gate_heads_${heads}_${headDim}`, [0, 0, heads, 2 * headDim])])],
        [intAttr('axis', -1)],
        2,
      );
      const merge = g.int64s(`sae_diff.merge_heads_${heads * headDim}`, [0, 0, heads * headDim]);
      q = g.one(attn, 'Reshape', [query, merge]);
      outputGate = g.one(attn, 'Sigmoid', [g.one(attn, 'Reshape', [gateHeads, merge])]);
      k = linear(`${attn}/k_proj`, normed, `${w}.self_attn.k_proj`, kvHeads * headDim, spec.qkvBias, hidden);
      v = linear(`${attn}/v_proj`, normed, `${w}.self_attn.v_proj`, kvHeads * headDim, spec.qkvBias, hidden);
    } else if (source !== undefined) {
      // Gemma 4's shared layers read an earlier layer's keys and values; transformers skips any weights of their own
      q = linear(`${attn}/q_proj`, normed, `${w}.self_attn.q_proj`, heads * headDim, spec.qkvBias, hidden);
      k = v = '';
      for (const module of ['k_proj', 'v_proj', 'k_norm', 'v_norm']) weights.skip(`${w}.self_attn.${module}.weight`);
    } else {
      q = linear(`${attn}/q_proj`, normed, `${w}.self_attn.q_proj`, heads * headDim, spec.qkvBias, hidden);
      k = linear(`${attn}/k_proj`, normed, `${w}.self_attn.k_proj`, kvHeads * headDim, spec.qkvBias, hidden);
      // Gemma 4's attention_k_eq_v: a full layer's values are its key projection
      v =
        full && spec.layerAttention?.keysAsValues
          ? k
          : linear(`${attn}/v_proj`, normed, `${w}.self_attn.v_proj`, kvHeads * headDim, spec.qkvBias, hidden);
    }
    // Falcon-H1: k_proj's output times key_multiplier
    if (spec.falconH1) k = g.one(attn, 'Mul', [k, scalar('key_multiplier', spec.falconH1.key)]);
    if (spec.qkNorm === 'projection') {
      // OLMo 2: q_norm and k_norm over the whole projections
      q = rmsNorm(`${attn}/q_norm`, q, `${w}.self_attn.q_norm.weight`, heads * headDim);
      k = rmsNorm(`${attn}/k_norm`, k, `${w}.self_attn.k_norm.weight`, kvHeads * headDim);
    }
    const qkNorm = (module: string) =>
      spec.qkNorm === 'head' || spec.qkNorm === 'head_layernorm' ? { module, weight: `${w}.self_attn.${module}.weight` } : undefined;
    const [qNorm, kNorm] = [names.qNorm, names.kNorm];
    const rotary = sliding ? localRotary : globalRotary;
    // SmolLM3's NoPE layers rotate nothing
    const rotate = (scope: string, t: string) =>
      spec.noRopeLayers?.[l] ? t : full ? fullRotation!.apply(scope, t, fullRotary!) : rotation.apply(scope, t, rotary);
    // Hunyuan normalises each head's queries and keys after RoPE, the others before it
    const afterRope = spec.qkNormAfterRope === true;
    const headNorm = (t: string, module: string) => rmsNorm(`${attn}/${module}`, t, `${w}.self_attn.${module}.weight`, headDim);
    let qr = rotate(attn, toHeads(attn, q, heads, headDim, afterRope ? undefined : qkNorm(qNorm)));
    if (afterRope) qr = headNorm(qr, qNorm);
    // Ministral 3: Llama 4's attention temperature, after RoPE
    if (queryScale) qr = g.one(attn, 'Mul', [qr, queryScale]);
    const shared = source === undefined ? undefined : sharedKv.get(source)!;
    const rotatedKeys = shared?.k ?? rotate(attn, toHeads(attn, k, kvHeads, headDim, afterRope ? undefined : qkNorm(kNorm)));
    const keys = afterRope && !shared ? headNorm(rotatedKeys, kNorm) : rotatedKeys;
    // Gemma 4: the values RMS-normalised per head, without a weight (v_norm)
    const values = shared?.v ?? toHeads(attn, v, kvHeads, headDim, spec.valueNorm ? { module: 'v_norm' } : undefined);
    if (spec.gemma4Layers && !shared) sharedKv.set(l, { k: keys, v: values });
    const kr = repeatKv(g, attn, keys, heads, kvHeads, headDim);
    const vr = repeatKv(g, attn, values, heads, kvHeads, headDim);
    let merged = attend(attn, w, sliding, qr, kr, vr, heads * headDim);
    if (outputGate) merged = g.one(attn, 'Mul', [merged, outputGate]);
    return linear(`${attn}/${names.output}`, merged, `${w}.self_attn.${names.output}`, hidden, spec.oBias, heads * headDim);
  }

  /**
   * Eager attention over the heads' queries, keys and values [B, heads, S, *] (keys repeated for their queries): q kᵀ
   * times the spec's attentionScale, rounded to the activations' type as transformers computes it, then (Gemma 2) soft-capped, masked
   * (causal, padding and a sliding layer's window) and softmaxed in float32 (GPT-OSS: with its sinks), times v; the
   * heads merged to [B, S, `width`].
   */
  function attend(attn: string, w: string, sliding: boolean, qr: string, kr: string, vr: string, width: number): string {
    const products = g.one(attn, 'MatMul', [qr, g.one(attn, 'Transpose', [kr], [ints('perm', [0, 1, 3, 2])])]);
    // q kᵀ * scaling, rounded to the activations' type as transformers computes it, then softmax in float32
    let scores = g.one(attn, 'Mul', [g.cast(attn, products, act, FLOAT), scale], [], FLOAT);
    if (spec.softcap !== undefined) {
      // Gemma 2: attn_weights / softcap, tanh, * softcap, before the mask
      const cap = g.floats('sae_diff.softcap', Float32Array.of(spec.softcap), []);
      scores = g.one(attn, 'Mul', [g.one(attn, 'Tanh', [g.one(attn, 'Div', [scores, cap], [], FLOAT)], [], FLOAT), cap], [], FLOAT);
    }
    const logits = g.cast(attn, g.cast(attn, scores, FLOAT, act), act, FLOAT);
    const maskedLogits = g.one(attn, 'Where', [sliding ? windowVisible : visible, logits, masked], [], FLOAT);
    const probs = spec.attentionSinks
      ? softmaxWithSinks(attn, maskedLogits, `${w}.self_attn.sinks`)
      : g.one(attn, 'Softmax', [maskedLogits], [intAttr('axis', -1)], FLOAT);
    const context = g.one(attn, 'Transpose', [g.one(attn, 'MatMul', [g.cast(attn, probs, FLOAT, act), vr])], [ints('perm', [0, 2, 1, 3])]);
    return g.one(attn, 'Reshape', [context, g.int64s(`sae_diff.merge_heads_${width}`, [0, 0, width])]);
  }

  /**
   * DeepSeek-V2's multi-head latent attention (transformers 5.18 Glm4MoeLiteAttention, DeepseekV2Attention,
   * DeepseekV3Attention): queries through q_a_proj,
   * q_a_layernorm and q_b_proj (or q_proj), each head's split into a part without RoPE and `rope` dims rotated; keys
   * and values from kv_a_proj_with_mqa's latent (normalised by kv_a_layernorm, expanded per head by kv_b_proj into
   * each key's part without RoPE and its value) and its `rope` dims, rotated once and shared by every head's key.
   */
  function latentAttention(l: number, block: string, w: string, normed: string): string {
    const mla = spec.mla!;
    const attn = `${block}/self_attn`;
    const sliding = spec.slidingLayers?.[l] === true;
    const qkDim = mla.nope + mla.rope;
    const split = (t: string, sizes: number[], type: number | null = act) =>
      g.op(attn, 'Split', [t, g.int64s(`sae_diff.split_${sizes.join('_')}`, sizes)], [intAttr('axis', -1)], sizes.length, type);
    const heads4 = (t: string, n: number, size: number) =>
      g.one(
        attn,
        'Transpose',
        [g.one(attn, 'Reshape', [t, g.int64s(`sae_diff.heads_${n}_${size}`, [0, 0, n, size])])],
        [ints('perm', [0, 2, 1, 3])],
      );
    let q: string;
    if (mla.qLoraRank === undefined) q = linear(`${attn}/q_proj`, normed, `${w}.self_attn.q_proj`, heads * qkDim, false, hidden);
    else {
      const low = linear(`${attn}/q_a_proj`, normed, `${w}.self_attn.q_a_proj`, mla.qLoraRank, spec.qkvBias, hidden);
      // Glm4MoeLiteAttention builds its latent norms without an eps: Glm4MoeLiteRMSNorm's default 1e-6
      const lowNormed = rmsNorm(`${attn}/q_a_layernorm`, low, `${w}.self_attn.q_a_layernorm.weight`, mla.qLoraRank, LATENT_NORM_EPS);
      q = linear(`${attn}/q_b_proj`, lowNormed, `${w}.self_attn.q_b_proj`, heads * qkDim, false, mla.qLoraRank);
    }
    const [qPass, qRot] = split(heads4(q, heads, qkDim), [mla.nope, mla.rope]);
    const latent = linear(
      `${attn}/kv_a_proj_with_mqa`,
      normed,
      `${w}.self_attn.kv_a_proj_with_mqa`,
      mla.kvLoraRank + mla.rope,
      spec.qkvBias,
      hidden,
    );
    const [kvLatent, kRotFlat] = split(latent, [mla.kvLoraRank, mla.rope]);
    const kvNormed = rmsNorm(`${attn}/kv_a_layernorm`, kvLatent, `${w}.self_attn.kv_a_layernorm.weight`, mla.kvLoraRank, LATENT_NORM_EPS);
    const kv = linear(`${attn}/kv_b_proj`, kvNormed, `${w}.self_attn.kv_b_proj`, heads * (mla.nope + mla.value), false, mla.kvLoraRank);
    const [kPass, values] = split(heads4(kv, heads, mla.nope + mla.value), [mla.nope, mla.value]);
    const kRot = g.one(attn, 'Expand', [
      rotation.apply(attn, heads4(kRotFlat, 1, mla.rope), globalRotary),
      g.int64s(`sae_diff.expand_heads_${heads}`, [1, heads, 1, 1]),
    ]);
    const query = g.one(attn, 'Concat', [qPass, rotation.apply(attn, qRot, globalRotary)], [intAttr('axis', -1)]);
    const keys = g.one(attn, 'Concat', [kPass, kRot], [intAttr('axis', -1)]);
    const merged = attend(attn, w, sliding, query, keys, values, heads * mla.value);
    return linear(`${attn}/${names.output}`, merged, `${w}.self_attn.${names.output}`, hidden, spec.oBias, heads * mla.value);
  }

  /**
   * Gemma4TextDecoderLayer with enable_moe_block (26B-A4B): the MLP's output and the experts' (on
   * pre_feedforward_layernorm_2 of the mid-stream `mid`, routed from `mid` itself), each normalised
   * (post_feedforward_layernorm_1, _2), summed, then post_feedforward_layernorm as without experts.
   */
  function gemma4MlpAndExperts(block: string, w: string, mid: string, normed2: string): string {
    const dense = rmsNorm(`${block}/post_feedforward_layernorm_1`, denseMlp(block, w, normed2), `${w}.post_feedforward_layernorm_1.weight`);
    const expertsIn = rmsNorm(`${block}/pre_feedforward_layernorm_2`, mid, `${w}.pre_feedforward_layernorm_2.weight`);
    // Gemma4TextRouter's norm: RMS-normalised without a weight (with_scale=False)
    const routerIn = rmsNorm(`${block}/router/norm`, mid, undefined);
    const experts = rmsNorm(
      `${block}/post_feedforward_layernorm_2`,
      moeBlock(moeContext, spec.moe!, block, w, expertsIn, routerIn),
      `${w}.post_feedforward_layernorm_2.weight`,
    );
    return rmsNorm(`${block}/post_feedforward_layernorm`, g.one(block, 'Add', [dense, experts]), `${w}.post_feedforward_layernorm.weight`);
  }

  /**
   * GPT-OSS's eager_attention_forward: each head's learnt sink logit (`sinks` [heads]) joins every row of its scores
   * [B, heads, S, S] in the softmax (in float32 here), and its share is dropped: the row's weights sum to less than 1.
   */
  function softmaxWithSinks(attn: string, maskedLogits: string, sinksName: string): string {
    const sinks = g.cast(attn, weights.get(sinksName, [heads]), act, FLOAT);
    const perHead = g.one(attn, 'Reshape', [sinks, g.int64s(`sae_diff.sink_shape_${heads}`, [1, heads, 1, 1])], [], FLOAT);
    const rows = g.one(
      attn,
      'Slice',
      [g.one(attn, 'Shape', [maskedLogits], [], INT64), g.int64s('sae_diff.from_0', [0]), g.int64s('sae_diff.to_3', [3])],
      [],
      INT64,
    );
    const columnShape = g.one(attn, 'Concat', [rows, g.int64s('sae_diff.dim_1', [1])], [intAttr('axis', 0)], INT64);
    const withSinks = g.one(
      attn,
      'Concat',
      [maskedLogits, g.one(attn, 'Expand', [perHead, columnShape], [], FLOAT)],
      [intAttr('axis', -1)],
      FLOAT,
    );
    const probs = g.one(attn, 'Softmax', [withSinks], [intAttr('axis', -1)], FLOAT);
    return g.one(
      attn,
      'Slice',
      [probs, g.int64s('sae_diff.from_0', [0]), g.int64s('sae_diff.to_minus_1', [-1]), g.int64s('sae_diff.axis_last', [-1])],
      [],
      FLOAT,
    );
  }

  /**
   * Gemma4TextModel's per-layer inputs [B, S, layers, width] from the tokens and their scaled embedding `embedded`
   * (get_per_layer_inputs, project_per_layer_inputs), in scope /model/per_layer_inputs, outside the blocks.
   */
  function gemma4PerLayerInputs(width: number, embedded: string): string {
    const s = '/model/per_layer_inputs';
    const all = spec.layers * width;
    const constant = (name: string, v: number) => g.cast(s, g.floats(`sae_diff.${name}`, Float32Array.of(v), []), FLOAT, act);
    const perLayer = g.int64s(`sae_diff.per_layer_${spec.layers}_${width}`, [0, 0, spec.layers, width]);
    // embed_tokens_per_layer: Gemma4TextScaledWordEmbedding, times sqrt(width) in the table's type
    const tokens = projections.embed('/model/embed_tokens_per_layer', `${prefix}embed_tokens_per_layer.weight`, all);
    const identity = g.one(s, 'Reshape', [
      g.one(s, 'Mul', [tokens, constant('per_layer_embed_scale', Math.fround(Math.sqrt(width)))]),
      perLayer,
    ]);
    const projected = g.one('/model/per_layer_model_projection', 'Mul', [
      linear('/model/per_layer_model_projection', embedded, `${prefix}per_layer_model_projection`, all, false, hidden),
      constant('per_layer_projection_scale', Math.fround(Math.pow(hidden, -0.5))),
    ]);
    const normedProjection = rmsNorm(
      '/model/per_layer_projection_norm',
      g.one(s, 'Reshape', [projected, perLayer]),
      `${prefix}per_layer_projection_norm.weight`,
      width,
    );
    return g.one(s, 'Mul', [g.one(s, 'Add', [normedProjection, identity]), constant('per_layer_input_scale', Math.fround(Math.SQRT1_2))]);
  }

  /**
   * Gemma4TextDecoderLayer's per-layer input after the MLP: h + post_per_layer_input_norm(per_layer_projection(
   * gelu(per_layer_input_gate(h)) · its input)). The sum sits in scope per_layer_input, which model/hooks.ts reads
   * resid_post after.
   */
  function perLayerInputBranch(l: number, block: string, w: string, h: string, inputs: string): string {
    const width = spec.gemma4Layers!.perLayerInput!.width;
    const s = `${block}/per_layer_input`;
    const own = g.one('/model/per_layer_inputs', 'Gather', [inputs, g.int64s(`sae_diff.layer_${l}`, [l], [])], [intAttr('axis', 2)]);
    const gate = linear(`${block}/per_layer_input_gate`, h, `${w}.per_layer_input_gate`, width, false, hidden);
    const gated = g.one(s, 'Mul', [geluTanh(g, `${block}/act_fn`, gate), own]);
    const projected = linear(`${block}/per_layer_projection`, gated, `${w}.per_layer_projection`, hidden, false, width);
    return g.one(s, 'Add', [h, rmsNorm(`${block}/post_per_layer_input_norm`, projected, `${w}.post_per_layer_input_norm.weight`)]);
  }

  /**
   * transformers' XIELUActivation (activations.py, its Python form) with the layer's saved parameters under `name`:
   * alpha_p = softplus(alpha_p), alpha_n = beta + softplus(alpha_n); alpha_p · x · x + beta · x where x > 0, else
   * (expm1(min(x, eps)) - x) · alpha_n + beta · x; in float32 (expm1 as exp - 1, within 1e-7 of it here).
   */
  function xielu(scope: string, x: string, name: string): string {
    const f32 = (op: string, inputs: string[]) => g.one(scope, op, inputs, [], FLOAT);
    const param = (key: string, dims: number[]) => g.cast(scope, weights.get(`${name}.${key}`, dims), act, FLOAT);
    const xf = g.cast(scope, x, act, FLOAT);
    const beta = param('beta', []);
    const alphaP = softplus(g, scope, param('alpha_p', [1]));
    const alphaN = f32('Add', [beta, softplus(g, scope, param('alpha_n', [1]))]);
    const linearPart = f32('Mul', [beta, xf]);
    const positive = f32('Add', [f32('Mul', [f32('Mul', [alphaP, xf]), xf]), linearPart]);
    const one = g.floats('sae_diff.one_f32', Float32Array.of(1), []);
    const expm1 = f32('Sub', [f32('Exp', [f32('Min', [xf, param('eps', [])])]), one]);
    const negative = f32('Add', [f32('Mul', [f32('Sub', [expm1, xf]), alphaN]), linearPart]);
    const above = g.one(scope, 'Greater', [xf, g.floats('sae_diff.zero_f32', Float32Array.of(0), [])], [], null);
    return g.cast(scope, f32('Where', [above, positive, negative]), FLOAT, act);
  }

  /** The SwiGLU (Gemma: GELU tanh) MLP of a block, on its normed input; StarCoder2's ungated one. */
  function denseMlp(block: string, w: string, normed2: string, intermediate = spec.intermediate): string {
    const mlp = `${block}/${names.mlp}`;
    if (spec.ungatedMlp) {
      // Starcoder2MLP: c_proj(act(c_fc(x)))
      const up = linear(`${mlp}/c_fc`, normed2, `${w}.mlp.c_fc`, intermediate, spec.mlpBias, hidden);
      return linear(`${mlp}/c_proj`, geluTanh(g, `${mlp}/act`, up), `${w}.mlp.c_proj`, hidden, spec.mlpBias, intermediate);
    }
    if (spec.mlpActivation === 'xielu' || spec.mlpActivation === 'relu2') {
      // ApertusMLP: down_proj(xielu(up_proj(x))), no gate; ArceeMLP (NemotronMLP): down_proj(relu(up_proj(x))²)
      const up = linear(`${mlp}/${names.up}`, normed2, `${w}.${names.mlp}.${names.up}`, intermediate, spec.mlpBias, hidden);
      const relu = () => g.one(`${mlp}/act_fn`, 'Relu', [up]);
      const activated =
        spec.mlpActivation === 'xielu'
          ? xielu(`${mlp}/act_fn`, up, `${w}.${names.mlp}.act_fn`)
          : g.one(`${mlp}/act_fn`, 'Mul', [relu(), relu()]);
      return linear(`${mlp}/${names.down}`, activated, `${w}.${names.mlp}.${names.down}`, hidden, spec.mlpBias, intermediate);
    }
    // Phi-3: gate_up_proj's output is gate, then up (chunk(2))
    const [gate, up] =
      spec.fusedProjections || spec.fusedGateUp
        ? g.op(
            mlp,
            'Split',
            [linear(`${mlp}/${names.gateUp}`, normed2, `${w}.${names.mlp}.${names.gateUp}`, 2 * intermediate, false, hidden)],
            [intAttr('axis', -1)],
            2,
          )
        : [
            linear(`${mlp}/${names.gate}`, normed2, `${w}.${names.mlp}.${names.gate}`, intermediate, spec.mlpBias, hidden),
            linear(`${mlp}/${names.up}`, normed2, `${w}.${names.mlp}.${names.up}`, intermediate, spec.mlpBias, hidden),
          ];
    // Falcon-H1: act(gate_proj(x) · gate_multiplier), down_proj(y) · down_multiplier, in the MLP (its forward's output)
    const falcon = spec.falconH1;
    const gateIn = falcon ? g.one(mlp, 'Mul', [gate, scalar('mlp_gate_multiplier', falcon.mlpGate)]) : gate;
    const activated = spec.mlpActivation === 'silu' ? silu(`${mlp}/act_fn`, gateIn) : geluTanh(g, `${mlp}/act_fn`, gateIn);
    const down = `${w}.${names.mlp}.${names.down}`;
    const out = linear(`${mlp}/${names.down}`, g.one(mlp, 'Mul', [activated, up]), down, hidden, spec.mlpBias, intermediate);
    return falcon ? g.one(mlp, 'Mul', [out, scalar('mlp_down_multiplier', falcon.mlpDown)]) : out;
  }

  /** A multiplier of the config (float32) as a scalar of the activations' type. */
  function scalar(name: string, value: number): string {
    return g.cast('/model', g.floats(`sae_diff.${name}_${value}`, Float32Array.of(value), []), FLOAT, act);
  }

  /**
   * FalconH1DecoderLayer's mixers on the normed input: mamba(h) · ssm_out_multiplier + self_attn(h ·
   * attention_in_multiplier) · attention_out_multiplier, the branch the residual adds (attn_out: `mixers`).
   */
  function falconMixers(l: number, block: string, w: string, normed: string, m: NonNullable<DecoderSpec['falconH1']>): string {
    const mixed = mamba2({ g, weights, projections, hidden, eps: spec.rmsNormEps }, spec.mamba!, block, w, normed);
    const attended = selfAttention(l, block, w, g.one(block, 'Mul', [normed, scalar('attention_in_multiplier', m.attentionIn)]));
    const scope = `${block}/mixers`;
    return g.one(scope, 'Add', [
      g.one(scope, 'Mul', [mixed, scalar('ssm_out_multiplier', m.ssmOut)]),
      g.one(scope, 'Mul', [attended, scalar('attention_out_multiplier', m.attentionOut)]),
    ]);
  }
}
