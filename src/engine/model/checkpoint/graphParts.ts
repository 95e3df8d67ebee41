/**
 * What every checkpoint graph builder (decoderGraph.ts for Llama's kin, gpt2Graph.ts) builds alike: the batch's
 * shapes and attention mask, projections with an unmerged LoRA branch, GELU, and the finished ModelProto.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../../core/errors';
import { intAttr, type ModelProto, TensorDataType, valueInfo } from '../onnxGraph';
import type { CheckpointFiles } from './checkpointFiles';
import { VISION_PARTS, WeightReader } from './checkpointWeights';
import type { CheckpointSpec } from './decoderConfig';
import { alphaFor, isParameterModule, loraScaling, rankFor, targetsParameter, type LoraAdapter, type LoraModule } from './loraAdapter';
import { commonFolder } from '../externalData';
import { FLOAT, INT64, ints, ScopedGraph } from './scopedGraph';

/** The lowest float32: the additive mask value transformers uses (torch.finfo(float32).min). */
const MASKED = -3.4028234663852886e38;

export interface GraphFrame {
  /** [B, S, width]: the shape a projection's flat [B·S, width] output is given back. */
  shapeOf(width: number): string;
  /** [-1, width]: a [B, S, width] tensor's tokens as rows. */
  flatShape(width: number): string;
  /** [B, 1, S, S] bool: key j is visible to query i when j <= i and j is a real token (attention_mask). */
  visible: string;
  /** `visible`, also hiding keys `window` or more positions back (q - k < window: masking_utils.sliding_window_overlay). */
  windowVisible(window: number): string;
  /** The float32 value a hidden key's score is replaced by. */
  masked: string;
}

/** A graph being built from a checkpoint, with what every builder needs first. */
export interface GraphStart {
  g: ScopedGraph;
  weights: WeightReader;
  frame: GraphFrame;
  projections: Projections;
  /**
   * The deepest folder holding every weight file, links resolved: the graph's external data locations are relative
   * to it, as ONNX Runtime requires of session.model_external_initializers_file_folder_path (see externalData.ts).
   */
  externalDataFolder: string;
}

/** The graph of `spec`'s checkpoint (and adapter) begun: its weights, the batch's frame in scope `root`, the projections. */
export function startGraph(
  spec: Pick<CheckpointSpec, 'family' | 'visionTower' | 'layers'> & { mtpLayers?: number },
  files: CheckpointFiles,
  configFile: string,
  adapter: LoraAdapter | undefined,
  act: number,
  root: string,
): GraphStart {
  const g = new ScopedGraph(act);
  const resolved = new Map([...files.shards, ...(adapter ? [adapter.file] : [])].map((f) => [f, fs.realpathSync(f)]));
  const folder = commonFolder([...resolved.values()], files.main);
  const weights = new WeightReader(files, spec, g, configFile, (file) => path.relative(folder, resolved.get(file)!));
  const frame = graphFrame(g, root);
  return {
    g,
    weights,
    frame,
    projections: new Projections(g, weights, frame, adapter, SAVED_MODULE_NAMES[spec.family]),
    externalDataFolder: folder,
  };
}

/**
 * Where transformers 5 names a module in memory (as PEFT names an adapter's modules) otherwise than the checkpoint
 * does: conversion_mapping.py renames Mixtral's `block_sparse_moe` to `mlp` (an adapter trained on transformers 4
 * has the checkpoint's name, and reads as it is).
 */
const SAVED_MODULE_NAMES: Partial<Record<CheckpointSpec['family'], [RegExp, string][]>> = {
  mixtral: [[/^(layers\.\d+)\.mlp\./, '$1.block_sparse_moe.']],
};

/** The batch's shapes and masks, in scope `root` (`/model`, `/transformer`) as the exporters scope them. */
export function graphFrame(g: ScopedGraph, root: string): GraphFrame {
  const bs = g.one(root, 'Shape', ['input_ids'], [], null);
  const seqLen = g.one(root, 'Gather', [bs, g.int64s('sae_diff.one', [1], [])], [intAttr('axis', 0)], null);
  const shapes = new Map<number, string>();
  const shapeOf = (width: number) => {
    if (!shapes.has(width))
      shapes.set(width, g.one(root, 'Concat', [bs, g.int64s(`sae_diff.width_${width}`, [width])], [intAttr('axis', 0)], null));
    return shapes.get(width)!;
  };
  const ms = `${root}/mask`;
  const idx = g.one(ms, 'Range', [g.int64s('sae_diff.zero', [0], []), seqLen, g.int64s('sae_diff.step', [1], [])], [], null);
  const keys = g.one(ms, 'Unsqueeze', [idx, g.int64s('sae_diff.axes_0', [0])], [], null);
  const queries = g.one(ms, 'Unsqueeze', [idx, g.int64s('sae_diff.axes_1', [1])], [], null);
  const causal = g.one(ms, 'LessOrEqual', [keys, queries], [], null);
  const real = g.one(ms, 'Cast', ['attention_mask'], [intAttr('to', TensorDataType.BOOL)], null);
  const realKeys = g.one(ms, 'Unsqueeze', [real, g.int64s('sae_diff.axes_1_2', [1, 2])], [], null);
  const visible = g.one(ms, 'And', [causal, realKeys], [], null);
  const windows = new Map<number, string>();
  const windowVisible = (window: number) => {
    if (!windows.has(window)) {
      const distance = g.one(ms, 'Sub', [queries, keys], [], null);
      const near = g.one(ms, 'Less', [distance, g.int64s(`sae_diff.sliding_window_${window}`, [window], [])], [], null);
      windows.set(window, g.one(ms, 'And', [visible, near], [], null));
    }
    return windows.get(window)!;
  };
  return {
    shapeOf,
    flatShape: (width) => g.int64s(`sae_diff.flat_${width}`, [-1, width]),
    visible,
    windowVisible,
    masked: g.floats('sae_diff.masked', Float32Array.of(MASKED), []),
  };
}

/**
 * RoPE as transformers applies it (rotate_half convention): angles position_ids × inv_freq in float32, duplicated over
 * the two halves; a partial rotary embedding (Phi-3, GPT-NeoX) rotates each head's first `rotaryDim` dims and passes
 * the rest through. `interleaved` (GLM's apply_rotary_pos_emb): each even / odd pair of dims is rotated together
 * (rotate_half over x[0::2], x[1::2]), cos and sin each angle repeated for its pair.
 */
export class Rotary {
  private readonly positions: string;

  constructor(
    private readonly g: ScopedGraph,
    private readonly scope: string,
    private readonly rotaryDim: number,
    private readonly headDim: number,
    private readonly interleaved = false,
  ) {
    this.positions = g.one(scope, 'Cast', ['position_ids'], [intAttr('to', FLOAT)], FLOAT);
  }

  /** cos and sin [B, 1, S, rotaryDim] of an inverse-frequency table (longrope, YaRN: times their attention factor), .to(x.dtype). */
  tables(invFreq: string, factor?: number): { cos: string; sin: string } {
    const { g, scope: rs } = this;
    const freqs = g.one(
      rs,
      'Mul',
      [g.one(rs, 'Unsqueeze', [this.positions, g.int64s('sae_diff.axes_2', [2])], [], FLOAT), invFreq],
      [],
      FLOAT,
    );
    // [f0 .. fn, f0 .. fn], or per pair [f0, f0, f1, f1, ..]
    const angles = this.interleaved
      ? g.one(
          rs,
          'Reshape',
          [
            g.one(rs, 'Concat', [this.pairAxis(freqs), this.pairAxis(freqs)], [intAttr('axis', -1)], FLOAT),
            g.int64s('sae_diff.rotary_pairs_merged', [0, 0, this.rotaryDim]),
          ],
          [],
          FLOAT,
        )
      : g.one(rs, 'Concat', [freqs, freqs], [intAttr('axis', -1)], FLOAT);
    const part = (op: 'Cos' | 'Sin') => {
      let wave = g.one(rs, op, [angles], [], FLOAT);
      if (factor !== undefined)
        wave = g.one(rs, 'Mul', [wave, g.floats('sae_diff.rope_attention_factor', Float32Array.of(factor), [])], [], FLOAT);
      return g.cast(rs, g.one(rs, 'Unsqueeze', [wave, g.int64s('sae_diff.axes_1', [1])], [], FLOAT), FLOAT, g.act);
    };
    return { cos: part('Cos'), sin: part('Sin') };
  }

  /** t [B, S, rotaryDim / 2] as [B, S, rotaryDim / 2, 1], to pair each angle with itself. */
  private pairAxis(t: string): string {
    return this.g.one(this.scope, 'Unsqueeze', [t, this.g.int64s('sae_diff.axes_last', [-1])], [], FLOAT);
  }

  /** x [B, n, S, headDim] rotated: x · cos + rotate_half(x) · sin on its first rotaryDim dims. */
  apply(scope: string, x: string, { cos, sin }: { cos: string; sin: string }): string {
    const { g, rotaryDim, headDim } = this;
    const [xr, pass] =
      rotaryDim === headDim
        ? [x, undefined]
        : g.op(scope, 'Split', [x, g.int64s('sae_diff.rotary_split', [rotaryDim, headDim - rotaryDim])], [intAttr('axis', -1)], 2);
    let rotated: string;
    if (this.interleaved) {
      // [.., rotaryDim] as [.., rotaryDim / 2, 2]: each pair (x1, x2) becomes (-x2, x1)
      const pairs = g.one(scope, 'Reshape', [xr, g.int64s('sae_diff.rotary_pairs', [0, 0, 0, rotaryDim / 2, 2])]);
      const [x1, x2] = g.op(scope, 'Split', [pairs], [intAttr('axis', -1)], 2);
      const swapped = g.one(scope, 'Concat', [g.one(scope, 'Neg', [x2]), x1], [intAttr('axis', -1)]);
      rotated = g.one(scope, 'Reshape', [swapped, g.int64s('sae_diff.rotary_pairs_flat', [0, 0, 0, rotaryDim])]);
    } else {
      const [x1, x2] = g.op(scope, 'Split', [xr], [intAttr('axis', -1)], 2);
      rotated = g.one(scope, 'Concat', [g.one(scope, 'Neg', [x2]), x1], [intAttr('axis', -1)]);
    }
    const out = g.one(scope, 'Add', [g.one(scope, 'Mul', [xr, cos]), g.one(scope, 'Mul', [rotated, sin])]);
    return pass === undefined ? out : g.one(scope, 'Concat', [out, pass], [intAttr('axis', -1)]);
  }
}

/** x · rsqrt(mean(x²) + eps) over the last axis of a float32 x, in float32 (every RMSNorm's core). */
export function rmsNormalized(g: ScopedGraph, scope: string, xf: string, eps: number): string {
  const f32 = (op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []) => g.one(scope, op, inputs, attrs, FLOAT);
  const meanSquare = f32('ReduceMean', [f32('Mul', [xf, xf])], [ints('axes', [-1]), intAttr('keepdims', 1)]);
  const epsilon = g.floats(`sae_diff.rms_eps_${eps}`, Float32Array.of(eps), []);
  return f32('Mul', [xf, f32('Reciprocal', [f32('Sqrt', [f32('Add', [meanSquare, epsilon])])])]);
}

/**
 * nn.LayerNorm over the hidden axis: (x - mean) / sqrt(var + eps) · weight + bias, mean and biased variance in two
 * passes as torch computes them, in float32 (torch's layer_norm accumulates in float32 for half inputs and casts its
 * output back; float32 graphs cast nothing).
 */
export function layerNorm(
  g: ScopedGraph,
  weights: WeightReader,
  scope: string,
  x: string,
  name: string,
  width: number,
  eps: number,
  /** Cohere's LayerNorm: no bias, and (its per-head q / k norms) a weight of these dims over x's last axes. */
  options: { bias?: boolean; weightDims?: number[] } = {},
): string {
  const f32 = (op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []) => g.one(scope, op, inputs, attrs, FLOAT);
  const mean = (t: string) => f32('ReduceMean', [t], [ints('axes', [-1]), intAttr('keepdims', 1)]);
  const xf = g.cast(scope, x, g.act, FLOAT);
  const centred = f32('Sub', [xf, mean(xf)]);
  const variance = mean(f32('Mul', [centred, centred]));
  const epsilon = g.floats(`sae_diff.ln_eps_${eps}`, Float32Array.of(eps), []);
  const normed = f32('Div', [centred, f32('Sqrt', [f32('Add', [variance, epsilon])])]);
  const weight = g.cast(scope, weights.get(`${name}.weight`, options.weightDims ?? [width]), g.act, FLOAT);
  const scaled = f32('Mul', [normed, weight]);
  if (options.bias === false) return g.cast(scope, scaled, FLOAT, g.act);
  const bias = g.cast(scope, weights.get(`${name}.bias`, [width]), g.act, FLOAT);
  return g.cast(scope, f32('Add', [scaled, bias]), FLOAT, g.act);
}

/**
 * transformers' repeat_kv: key or value heads t [B, kvHeads, S, headDim] as [B, heads, S, headDim], each key/value
 * head serving heads / kvHeads consecutive query heads; t itself where there are as many.
 */
export function repeatKv(g: ScopedGraph, scope: string, t: string, heads: number, kvHeads: number, headDim: number): string {
  const repeat = heads / kvHeads;
  if (repeat === 1) return t;
  const expanded = g.one(scope, 'Expand', [
    g.one(scope, 'Unsqueeze', [t, g.int64s('sae_diff.axes_2', [2])]),
    g.int64s(`sae_diff.kv_expand_${repeat}`, [1, 1, repeat, 1, 1]),
  ]);
  return g.one(scope, 'Reshape', [expanded, g.int64s(`sae_diff.heads_merged_${heads}_${headDim}`, [0, heads, -1, headDim])]);
}

/**
 * Eager attention in float32 (GPT-2, GPT-NeoX): softmax(q kᵀ · scale, hidden keys masked) v, heads merged back;
 * q, k, v [B, n, S, head_dim] -> [B, S, `width`].
 */
export function attention(
  g: ScopedGraph,
  frame: GraphFrame,
  scope: string,
  q: string,
  k: string,
  v: string,
  scale: string,
  width: number,
): string {
  const kT = g.one(scope, 'Transpose', [k], [ints('perm', [0, 1, 3, 2])]);
  const scores = g.one(scope, 'Where', [frame.visible, g.one(scope, 'Mul', [g.one(scope, 'MatMul', [q, kT]), scale]), frame.masked]);
  const probs = g.one(scope, 'Softmax', [scores], [intAttr('axis', -1)]);
  const context = g.one(scope, 'Transpose', [g.one(scope, 'MatMul', [probs, v])], [ints('perm', [0, 2, 1, 3])]);
  return g.one(scope, 'Reshape', [context, g.int64s(`sae_diff.merge_heads_${width}`, [0, 0, width])]);
}

/** How a checkpoint stores a projection's weight: nn.Linear's [out, in], or GPT-2's Conv1D [in, out] (y = x W + b). */
export type WeightLayout = 'linear' | 'conv1d';

/**
 * The projections of one graph: x W (+ b), as Gemms on the flattened tokens, plus the adapter's branch where it
 * adapts that module. PEFT names an adapter's modules as the model is in memory; the module's path inside the
 * decoder (`layers.3.self_attn.q_proj`, GPT-2's `h.3.attn.c_attn`) is what both share.
 */
export class Projections {
  private readonly used = new Set<string>();
  private readonly byPath = new Map<string, { module: string; lora: LoraModule }>();

  constructor(
    private readonly g: ScopedGraph,
    private readonly weights: WeightReader,
    private readonly frame: GraphFrame,
    private readonly adapter: LoraAdapter | undefined,
    savedNames: [RegExp, string][] = [],
  ) {
    // transformers 5's Gemma 3: model.language_model.*, as saved: language_model.model.*; GPT-2: transformer.h.N;
    // GPT-NeoX: gpt_neox.layers.N
    for (const [module, lora] of adapter?.modules ?? []) {
      const inDecoder =
        /^(?:model\.language_model\.|language_model\.model\.|model\.text_model\.|model\.|backbone\.|transformer\.|gpt_neox\.)?((?:layers|h)\.\d+\..+)$/.exec(
          module,
        );
      if (inDecoder)
        this.byPath.set(
          savedNames.reduce((p, [memory, saved]) => p.replace(memory, saved), inDecoder[1]),
          { module, lora },
        );
    }
  }

  /** x [B, S, in] -> [B, S, out] through the weight `name` (+ its bias) and, where adapted, + B (A x) · scaling. */
  linear(scope: string, x: string, name: string, width: number, bias: boolean, xWidth: number, layout: WeightLayout = 'linear'): string {
    const { g, frame } = this;
    const flatX = g.one(scope, 'Reshape', [x, frame.flatShape(xWidth)]);
    return g.one(scope, 'Reshape', [this.linearRows(scope, flatX, name, width, bias, xWidth, layout), frame.shapeOf(width)]);
  }

  /**
   * linear on rows: flatX [n, in] -> [n, out] (a mixture of experts' tokens, gathered per expert); `weightDelta`
   * (float32, the weight's layout): a parameter LoRA's delta on an expert stored on its own (parameterDelta's slice).
   */
  linearRows(
    scope: string,
    flatX: string,
    name: string,
    width: number,
    bias: boolean,
    xWidth: number,
    layout: WeightLayout = 'linear',
    weightDelta?: string,
  ): string {
    const { g, weights } = this;
    const conv1d = layout === 'conv1d';
    const stored = weights.get(`${name}.weight`, conv1d ? [xWidth, width] : [width, xWidth]);
    const weight = weightDelta
      ? g.cast(scope, g.one(scope, 'Add', [g.cast(scope, stored, g.act, FLOAT), weightDelta], [], FLOAT), FLOAT, g.act)
      : stored;
    const inputs = [flatX, weight];
    if (bias) inputs.push(weights.get(`${name}.bias`, [width]));
    let y = g.one(scope, 'Gemm', inputs, conv1d ? [] : [intAttr('transB', 1)]);
    const adapted = this.byPath.get(name.slice(weights.prefix.length));
    if (adapted) {
      const { lora } = adapted;
      this.used.add(adapted.module);
      // PEFT (lora/layer.py Linear.forward, Conv1D included: fan_in_fan_out only transposes the merged delta): x cast
      // to the (float32) adapter's dtype, result + lora_B(lora_A(x)) * scaling, back to the base's dtype
      const a = weights.loraMatrix(`${name}.lora_A.weight`, lora.a, [-1, xWidth], this.adapter!.file);
      const b = weights.loraMatrix(`${name}.lora_B.weight`, lora.b, [width, -1], this.adapter!.file);
      const low = g.one(`${scope}/lora_A`, 'Gemm', [g.cast(scope, flatX, g.act, FLOAT), a], [intAttr('transB', 1)], FLOAT);
      const branch = g.one(`${scope}/lora_B`, 'Gemm', [low, b], [intAttr('transB', 1)], FLOAT);
      const scaling = g.floats(`sae_diff.lora_scaling_${lora.scaling}`, Float32Array.of(lora.scaling), []);
      const yF = g.cast(scope, y, g.act, FLOAT);
      if (!lora.magnitude) {
        y = g.cast(scope, g.one(scope, 'Add', [yF, g.one(scope, 'Mul', [branch, scaling], [], FLOAT)], [], FLOAT), FLOAT, g.act);
      } else {
        // DoRA (peft/tuners/lora/dora.py DoraLinearLayer.forward, eval): s = magnitude / ‖W + scaling · B A‖ per output
        // row (fan_in_fan_out's W transposed to [out, in] first), result + (s - 1) · (result - bias) + s · lora · scaling;
        // s depends on weights only, so ONNX Runtime folds it when the session is created
        const stored = g.cast(scope, inputs[1], g.act, FLOAT); // the base weight the Gemm read
        const w = conv1d ? g.one(`${scope}/lora_magnitude_vector`, 'Transpose', [stored], [ints('perm', [1, 0])], FLOAT) : stored;
        const delta = g.one(
          `${scope}/lora_magnitude_vector`,
          'Mul',
          [g.one(`${scope}/lora_magnitude_vector`, 'MatMul', [b, a], [], FLOAT), scaling],
          [],
          FLOAT,
        );
        const norm = g.one(
          `${scope}/lora_magnitude_vector`,
          'ReduceL2',
          [g.one(`${scope}/lora_magnitude_vector`, 'Add', [w, delta], [], FLOAT)],
          [ints('axes', [1]), intAttr('keepdims', 0)],
          FLOAT,
        );
        const magnitude = weights.loraMatrix(`${name}.lora_magnitude_vector`, lora.magnitude, [width], this.adapter!.file);
        const s = g.one(`${scope}/lora_magnitude_vector`, 'Div', [magnitude, norm], [], FLOAT);
        const base = bias ? g.one(scope, 'Sub', [yF, g.cast(scope, inputs[2], g.act, FLOAT)], [], FLOAT) : yF;
        const one = g.floats('sae_diff.one_f32', Float32Array.of(1), []);
        const dora = g.one(
          scope,
          'Add',
          [
            g.one(scope, 'Mul', [g.one(scope, 'Sub', [s, one], [], FLOAT), base], [], FLOAT),
            g.one(scope, 'Mul', [g.one(scope, 'Mul', [s, branch], [], FLOAT), scaling], [], FLOAT),
          ],
          [],
          FLOAT,
        );
        y = g.cast(scope, g.one(scope, 'Add', [yF, dora], [], FLOAT), FLOAT, g.act);
      }
    }
    return y;
  }

  /**
   * The token embedding of input_ids [B, S] in the activation type: rows gathered from the table as stored (the
   * adapter's copy where it replaces it), plus, where the adapter has a LoRA on it, PEFT's lora.Embedding branch:
   * embedding(x, lora_embedding_Aᵀ) @ lora_embedding_Bᵀ · scaling, in float32 (peft/tuners/lora/layer.py
   * Embedding.forward). `name` is the table's tensor (`model.embed_tokens.weight`).
   */
  embed(scope: string, name: string, hidden: number): string {
    const { g, weights } = this;
    const module = name.replace(/\.weight$/, '');
    const isThis = (m: string) => m === module || m.endsWith(`.${module.split('.').pop()}`);
    const copy = [...(this.adapter?.replaced ?? [])].find(([m]) => isThis(m));
    if (copy) this.used.add(copy[0]);
    const table = copy ? weights.adapterWeight(name, copy[1], this.adapter!.file) : weights.stored(name, [-1, hidden]);
    const rows = g.one(scope, 'Gather', [table.name, 'input_ids'], [], table.dataType);
    let x = g.cast(scope, rows, table.dataType, g.act);
    const lora = [...(this.adapter?.modules ?? [])].find(([m, l]) => l.kind === 'embedding' && isThis(m));
    if (lora) {
      const [adapted, { a, b, scaling }] = lora;
      this.used.add(adapted);
      const file = this.adapter!.file;
      const aT = g.one(
        `${scope}/lora_embedding_A`,
        'Transpose',
        [weights.loraMatrix(`${module}.lora_embedding_A`, a, [-1, weights.shapeOf(name)?.[0] ?? -1], file)],
        [ints('perm', [1, 0])],
        FLOAT,
      );
      const low = g.one(`${scope}/lora_embedding_A`, 'Gather', [aT, 'input_ids'], [], FLOAT);
      const bT = g.one(
        `${scope}/lora_embedding_B`,
        'Transpose',
        [weights.loraMatrix(`${module}.lora_embedding_B`, b, [hidden, -1], file)],
        [ints('perm', [1, 0])],
        FLOAT,
      );
      const branch = g.one(`${scope}/lora_embedding_B`, 'MatMul', [low, bT], [], FLOAT);
      const scaled = g.one(scope, 'Mul', [branch, g.floats(`sae_diff.lora_scaling_${scaling}`, Float32Array.of(scaling), [])], [], FLOAT);
      x = g.cast(scope, g.one(scope, 'Add', [g.cast(scope, x, g.act, FLOAT), scaled], [], FLOAT), FLOAT, g.act);
    }
    return x;
  }

  /**
   * The fused experts' parameter `name` (`model.layers.1.mlp.experts.gate_up_proj`) [experts, inputs, outputs], given
   * as `weight` in the activations' type (GPT-OSS's, stored as x @ W), plus the adapter's LoRA on it where
   * target_parameters names it (parameterDelta).
   */
  parameter(scope: string, name: string, weight: string, experts: number, inputs: number, outputs: number): string {
    const { g } = this;
    const delta = this.parameterDelta(scope, name, experts, inputs, outputs, 'in_out');
    if (!delta) return weight;
    return g.cast(scope, g.one(scope, 'Add', [g.cast(scope, weight, g.act, FLOAT), delta], [], FLOAT), FLOAT, g.act);
  }

  /**
   * The adapter's LoRA delta, in float32, on the experts' parameter `name` where target_parameters names it (else
   * undefined): PEFT's ParamWrapper (peft/tuners/lora/layer.py get_delta_weight) adds scaling · Bₑ Aₑ to each
   * expert's weight, lora_A [r · experts, in] read as [experts, r, in] and lora_B [out, r · experts] as [out, r,
   * experts], scaling alpha / r with the parameter's alpha (alpha_pattern's where it matches, as PEFT writes it for
   * the fused gate_up_proj). The delta comes as the parameter lies in memory: [experts, in, out] for experts
   * transformers runs as x @ W (`in_out`: GPT-OSS's is_transposed), else [experts, out, in] (`out_in`: Linear's, the
   * experts transformers 5 fuses from one tensor per expert). Two parameters of one module nest (the outer's
   * matrices under the module, the inner's under `.base_layer`); each is told by its shape.
   */
  parameterDelta(
    scope: string,
    name: string,
    experts: number,
    inputs: number,
    outputs: number,
    layout: 'in_out' | 'out_in',
  ): string | undefined {
    const { g, weights, adapter } = this;
    if (!adapter || !targetsParameter(adapter.targetParameters, name)) return undefined;
    const owner = name.slice(weights.prefix.length, name.lastIndexOf('.'));
    const short = name.slice(name.lastIndexOf('.') + 1);
    const keyOf = (module: string) => `${module.replace(/(\.base_layer)+$/, '')}.${short}`;
    // the matrices of this parameter's shape, with the rank PEFT gave it (rank_pattern's, else r) once per expert
    const fits = (module: string, m: LoraModule) => {
      const r = rankFor(adapter, keyOf(module)) ?? m.a.shape[0] / experts;
      return (
        Number.isInteger(r) &&
        m.a.shape[0] === r * experts &&
        m.a.shape[1] === inputs &&
        m.b.shape[0] === outputs &&
        m.b.shape[1] === m.a.shape[0]
      );
    };
    let path = owner;
    let found: { module: string; lora: LoraModule } | undefined;
    for (let level = this.byPath.get(path); level; level = this.byPath.get((path = `${path}.base_layer`)))
      if (level.lora.kind === 'linear' && fits(level.module, level.lora)) found = level;
    if (!found) return undefined;
    this.used.add(found.module);
    const { a: aT, b: bT } = found.lora;
    const r = aT.shape[0] / experts;
    const s = `${scope}/lora`;
    const a = weights.loraMatrix(`${found.module}.lora_A.weight`, aT, [r * experts, inputs], adapter.file);
    const b = weights.loraMatrix(`${found.module}.lora_B.weight`, bT, [outputs, r * experts], adapter.file);
    // Aₑ [experts, r, in], Bₑ [experts, out, r]
    const perExpertA = g.one(
      s,
      'Reshape',
      [a, g.int64s(`sae_diff.experts_rank_in_${experts}_${r}_${inputs}`, [experts, r, inputs])],
      [],
      FLOAT,
    );
    const perExpertB = g.one(
      s,
      'Transpose',
      [g.one(s, 'Reshape', [b, g.int64s(`sae_diff.out_rank_experts_${outputs}_${r}_${experts}`, [outputs, r, experts])], [], FLOAT)],
      [ints('perm', [2, 0, 1])],
      FLOAT,
    );
    const product =
      layout === 'out_in'
        ? g.one(s, 'MatMul', [perExpertB, perExpertA], [], FLOAT)
        : g.one(
            s,
            'MatMul',
            [
              g.one(s, 'Transpose', [perExpertA], [ints('perm', [0, 2, 1])], FLOAT),
              g.one(s, 'Transpose', [perExpertB], [ints('perm', [0, 2, 1])], FLOAT),
            ],
            [],
            FLOAT,
          );
    const scaling = loraScaling({ alpha: alphaFor(adapter, keyOf(found.module)), rslora: adapter.rslora }, r);
    return g.one(s, 'Mul', [product, g.floats(`sae_diff.lora_scaling_${scaling}`, Float32Array.of(scaling), [])], [], FLOAT);
  }

  /** Refuses an adapter module no projection read (LoRA on a vision tower changes nothing text prompts reach). */
  checkAdapterUsed(family: string, visionTower = false): void {
    const unused = [...(this.adapter?.modules.keys() ?? []), ...(this.adapter?.replaced.keys() ?? [])].find(
      (m) => !this.used.has(m) && !(visionTower && VISION_PARTS.test(m)),
    );
    if (unused === undefined) return;
    if (isParameterModule(this.adapter!, unused))
      throw new SaeDiffError(
        `The adapter's LoRA on a parameter of '${unused.replace(/(\.base_layer)+$/, '')}' (target_parameters) matches no parameter of this ${family} graph: LoRA on parameters is built for the experts of GPT-OSS and of the mixtures of experts saved one tensor per expert, at their shapes and the rank PEFT gave them`,
        {
          location: { file: this.adapter!.file },
          hint: 'Merge the adapter into the base (merge_and_unload, then save_pretrained) and give that folder.',
        },
      );
    throw new SaeDiffError(`The adapter adapts '${unused}', which the ${family} graph has no projection for`, {
      location: { file: this.adapter!.file },
      hint: 'Merge the adapter into the base (merge_and_unload, then save_pretrained) and give that folder, or export the merged model to ONNX.',
    });
  }
}

/** PyTorch's gelu(approximate='tanh') (GPT-2's gelu_new): 0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 · x³))), in float32. */
export function geluTanh(g: ScopedGraph, scope: string, t: string): string {
  const xf = g.cast(scope, t, g.act, FLOAT);
  const c = (name: string, v: number) => g.floats(`sae_diff.gelu_${name}`, Float32Array.of(v), []);
  const mul = (a: string, b: string) => g.one(scope, 'Mul', [a, b], [], FLOAT);
  const cube = mul(mul(xf, xf), xf);
  const inner = mul(g.one(scope, 'Add', [xf, mul(cube, c('kappa', 0.044715))], [], FLOAT), c('beta', Math.sqrt(2 / Math.PI)));
  const onePlus = g.one(
    scope,
    'Add',
    [g.one(scope, 'Tanh', [inner], [], FLOAT), g.floats('sae_diff.one_f32', Float32Array.of(1), [])],
    [],
    FLOAT,
  );
  return g.cast(scope, mul(mul(xf, c('half', 0.5)), onePlus), FLOAT, g.act);
}

/** The MLP activation of a LayerNorm decoder (configKeys.ts mlpActivation), applied to t. */
export function mlpActivationOp(g: ScopedGraph, kind: 'gelu' | 'gelu_tanh' | 'relu', scope: string, t: string): string {
  return kind === 'gelu_tanh' ? geluTanh(g, scope, t) : kind === 'gelu' ? geluErf(g, scope, t) : g.one(scope, 'Relu', [t]);
}

/**
 * GPT-NeoX's and Phi's partial RoPE in scope `scope`: the rotation, its cos / sin tables from the spec's inverse
 * frequencies, and the attention's head_dim^-0.5 scale.
 */
export function partialRotary(
  g: ScopedGraph,
  scope: string,
  spec: { rotaryDim: number; headDim: number; invFreq: Float32Array },
): { rotary: Rotary; tables: { cos: string; sin: string }; scale: string } {
  const rotary = new Rotary(g, scope, spec.rotaryDim, spec.headDim);
  const tables = rotary.tables(g.floats('sae_diff.inv_freq', spec.invFreq, [spec.rotaryDim / 2]));
  const scale = g.floats('sae_diff.attention_scale', Float32Array.of(Math.fround(Math.pow(spec.headDim, -0.5))), []);
  return { rotary, tables, scale };
}

/** torch's exact gelu: 0.5 · x · (1 + erf(x / sqrt 2)), in float32. */
export function geluErf(g: ScopedGraph, scope: string, t: string): string {
  const xf = g.cast(scope, t, g.act, FLOAT);
  const scaled = g.one(scope, 'Mul', [xf, g.floats('sae_diff.gelu_inv_sqrt2', Float32Array.of(Math.SQRT1_2), [])], [], FLOAT);
  const onePlus = g.one(
    scope,
    'Add',
    [g.one(scope, 'Erf', [scaled], [], FLOAT), g.floats('sae_diff.one_f32', Float32Array.of(1), [])],
    [],
    FLOAT,
  );
  const half = g.one(scope, 'Mul', [xf, g.floats('sae_diff.gelu_half', Float32Array.of(0.5), [])], [], FLOAT);
  return g.cast(scope, g.one(scope, 'Mul', [half, onePlus], [], FLOAT), FLOAT, g.act);
}

/** The finished graph: int64 inputs input_ids, attention_mask, position_ids [batch, sequence]; `output` its one output. */
export function decoderModel(g: ScopedGraph, weights: WeightReader, files: CheckpointFiles, output: string): ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'sae-diff (safetensors checkpoint)',
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: path.basename(path.dirname(files.main)),
      node: g.nodes,
      initializer: [...g.inits, ...weights.initializers],
      input: ['input_ids', 'attention_mask', 'position_ids'].map((name) => ({
        name,
        type: { tensorType: { elemType: INT64, shape: { dim: [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }] } } },
      })),
      output: [valueInfo(output, g.act)],
      // hookGraph casts a hooked tensor that is not float32 to float32
      valueInfo: [...g.types].filter(([t]) => t !== output).map(([t, type]) => valueInfo(t, type)),
    }),
  });
}
