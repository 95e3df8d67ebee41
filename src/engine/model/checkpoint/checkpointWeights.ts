/**
 * A checkpoint's tensors (and a LoRA adapter's) as graph initialisers: external data that points into the
 * safetensors files in place, each checked against the shape config.json implies, cast to the type the graph
 * computes in where it is stored otherwise (ONNX Runtime folds those casts once, when the session is created).
 */
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../../core/errors';
import { TensorDataType } from '../onnxGraph';
import type { CheckpointFiles, CheckpointTensor } from './checkpointFiles';
import type { CheckpointSpec } from './decoderConfig';
import type { ScopedGraph } from './scopedGraph';

/** safetensors dtype -> ONNX element type, for the dtypes a checkpoint may store its weights in. */
export const DTYPES: Record<string, number> = { F32: TensorDataType.FLOAT, F16: TensorDataType.FLOAT16, BF16: TensorDataType.BFLOAT16 };
/**
 * Buffers some checkpoints saved beside the weights, derived from config.json here: RoPE's inv_freq, and GPT-2's
 * causal-mask buffers attn.bias / attn.masked_bias (in openai-community/gpt2's own model.safetensors), and GPT-NeoX's
 * attention.bias / attention.masked_bias (in older Pythia checkpoints).
 */
const DERIVED = /\.rotary_emb\.inv_freq$|(?:^|\.)h\.\d+\.attn\.(?:bias|masked_bias)$|(?:^|\.)layers\.\d+\.attention\.(?:bias|masked_bias)$/;

/** Where a checkpoint keeps its decoder's tensors, and the ones the graph (cut before the final norm) never reads. */
export interface CheckpointTensorNames {
  /** What every decoder tensor's name starts with. */
  prefix: string;
  /** The token embedding table. */
  embedding: string;
  lmHead: string;
  /** What follows the last block (the final norm, Phi's lm_head bias): the graph ends before it. */
  afterBlocks: string[];
}

/**
 * Where a checkpoint keeps its decoder's tensors: `model.` (a ForCausalLM), nothing (a bare LlamaModel saved
 * without its head), or, for Gemma 3's multimodal models, `language_model.model.` (what save_pretrained writes,
 * transformers 4.5x and 5 alike) or `model.language_model.` (transformers 5's names in memory). GPT-2: `transformer.`
 * (GPT2LMHeadModel.save_pretrained), or nothing (openai-community/gpt2's own file, a bare GPT2Model's names).
 */
export function checkpointTensorNames(tensors: ReadonlyMap<string, unknown>, family: string): CheckpointTensorNames {
  if (family === 'gpt_neox') {
    // GPTNeoXForCausalLM: gpt_neox.*, its head embed_out (lm_head in memory, embed_out as saved)
    return {
      prefix: 'gpt_neox.',
      embedding: 'gpt_neox.embed_in.weight',
      lmHead: 'embed_out.weight',
      afterBlocks: ['gpt_neox.final_layer_norm.weight', 'gpt_neox.final_layer_norm.bias'],
    };
  }
  if (family === 'nemotron_h') {
    // NemotronHForCausalLM as saved: backbone.* (transformers renames it model.* in memory), backbone.embeddings
    return {
      prefix: 'backbone.',
      embedding: 'backbone.embeddings.weight',
      lmHead: 'lm_head.weight',
      afterBlocks: ['backbone.norm_f.weight'],
    };
  }
  if (family === 'gpt2') {
    const prefix = tensors.has('transformer.wte.weight') || !tensors.has('wte.weight') ? 'transformer.' : '';
    return {
      prefix,
      embedding: `${prefix}wte.weight`,
      lmHead: 'lm_head.weight',
      afterBlocks: [`${prefix}ln_f.weight`, `${prefix}ln_f.bias`],
    };
  }
  // a multimodal model's text decoder (transformers 4's layout, the hub's: language_model.model.*; 5's in memory:
  // model.language_model.*), else the decoder itself
  const multimodal = (
    [
      ['language_model.model.', 'language_model.lm_head.weight'],
      ['model.language_model.', 'lm_head.weight'],
      // SmolVLM's and Idefics3's
      ['model.text_model.', 'lm_head.weight'],
    ] as const
  ).find(([prefix]) => tensors.has(`${prefix}embed_tokens.weight`));
  const names = multimodal
    ? llamaNames(multimodal[0], multimodal[1])
    : llamaNames(tensors.has('model.embed_tokens.weight') || !tensors.has('embed_tokens.weight') ? 'model.' : '', 'lm_head.weight');
  // Starcoder2Model's and StableLmModel's final norm is a LayerNorm: model.norm.weight and bias
  if (family === 'starcoder2' || family === 'stablelm')
    return { ...names, afterBlocks: [...names.afterBlocks, `${names.prefix}norm.bias`] };
  // Lfm2Model's final norm is named embedding_norm
  if (family === 'lfm2' || family === 'lfm2_moe') return { ...names, afterBlocks: [`${names.prefix}embedding_norm.weight`] };
  // Ernie4_5_MoeForCausalLM: its lm_head has a bias where use_bias is set (the run stops before the head)
  if (family === 'ernie4_5_moe') return { ...names, afterBlocks: [...names.afterBlocks, 'lm_head.bias'] };
  // BambaModel's and FalconH1Model's final norm is named final_layernorm
  if (family === 'bamba' || family === 'falcon_h1') return { ...names, afterBlocks: [`${names.prefix}final_layernorm.weight`] };
  // PhiForCausalLM: model.final_layernorm (weight and bias), an lm_head with a bias
  if (family === 'phi')
    return { ...names, afterBlocks: [`${names.prefix}final_layernorm.weight`, `${names.prefix}final_layernorm.bias`, 'lm_head.bias'] };
  return names;
}

const llamaNames = (prefix: string, lmHead: string): CheckpointTensorNames => ({
  prefix,
  embedding: `${prefix}embed_tokens.weight`,
  lmHead,
  afterBlocks: [`${prefix}norm.weight`],
});

/**
 * A multimodal checkpoint's parts besides the text decoder (Gemma 3's SigLIP tower and projector, Qwen 3.5's visual,
 * Gemma 4's vision and audio towers and their embedders, LLaVA-NeXT's image_newline, SmolVLM's vision_model and
 * connector): never run.
 */
export const VISION_PARTS =
  /^(model\.)?((vision_tower|multi_modal_projector|visual|audio_tower|embed_vision|embed_audio|vision_model|connector)\.|image_newline$)/;

/** Qwen 3.5's, Qwen3-Next's, OLMo Hybrid's and Nemotron-H's multi-token prediction heads, which transformers does not load either (_keys_to_ignore_on_load_unexpected). */
const MTP_PARTS = /^mtp\./;
const MTP_FAMILIES = new Set(['qwen3_5_text', 'qwen3_5_moe_text', 'olmo_hybrid', 'nemotron_h', 'qwen3_next']);

export class WeightReader {
  readonly initializers: onnx.ITensorProto[] = [];
  readonly prefix: string;
  private readonly names: CheckpointTensorNames;
  private readonly used = new Set<string>();

  constructor(
    private readonly files: CheckpointFiles,
    private readonly spec: Pick<CheckpointSpec, 'family' | 'visionTower' | 'layers'> & { mtpLayers?: number },
    private readonly g: ScopedGraph,
    private readonly configFile: string,
    /** A weight file's location relative to the graph's external data folder. */
    private readonly locate: (file: string) => string,
  ) {
    this.names = checkpointTensorNames(files.tensors, spec.family);
    this.prefix = this.names.prefix;
  }

  /** The token embedding table's name. */
  get embedding(): string {
    return this.names.embedding;
  }

  /** The tensor `name` in the graph's activation type (dims checked against `dims`; -1 accepts any size). */
  get(name: string, dims: number[]): string {
    const stored = this.stored(name, dims);
    return this.g.cast('/model/weights', stored.name, stored.dataType, this.g.act);
  }

  /** The shape the checkpoint stores `name` with, if it has it. */
  shapeOf(name: string): number[] | undefined {
    return this.files.tensors.get(name)?.shape;
  }

  /** The tensor `name` as stored, and its ONNX type. */
  stored(name: string, dims: number[]): { name: string; dataType: number } {
    return this.read(name, dims, DTYPES, 'checkpoints run from float32, float16 or bfloat16 weights');
  }

  /** The uint8 tensor `name` (MXFP4's packed codes and exponents, mxfp4.ts) as stored. */
  bytes(name: string, dims: number[]): string {
    return this.read(name, dims, { U8: TensorDataType.UINT8 }, 'MXFP4 blocks and scales are stored as U8').name;
  }

  private read(name: string, dims: number[], dtypes: Record<string, number>, expected: string): { name: string; dataType: number } {
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
    const dataType = dtypes[t.dtype];
    if (dataType === undefined) {
      throw new SaeDiffError(`'${name}' is ${t.dtype}; ${expected}`, {
        location: { file: this.files.main },
        hint: 'Save the model unquantised (save_pretrained after dequantising), or export it to ONNX.',
      });
    }
    this.used.add(name);
    this.initializers.push(externalTensor(name, t, dataType, this.locate(t.file)));
    return { name, dataType };
  }

  /** A LoRA matrix of `adapterFile` in float32 (PEFT upcasts half adapters to float32), checked against `dims`. */
  loraMatrix(name: string, t: CheckpointTensor, dims: number[], adapterFile: string): string {
    if (dims.some((d, i) => d !== -1 && d !== t.shape[i])) {
      throw new SaeDiffError(
        `The adapter's '${name}' has shape [${t.shape}], which does not fit the base's [${dims.map((d) => (d === -1 ? '?' : d))}]`,
        { location: { file: adapterFile }, hint: 'The adapter was trained on another base model: give the base it was trained on.' },
      );
    }
    const stored = this.adapterTensor(name, t, adapterFile);
    return this.g.cast('/model/weights', stored.name, stored.dataType, TensorDataType.FLOAT);
  }

  /** A whole weight the adapter replaces (loraAdapter.ts `replaced`), as stored; it must have the base's own shape. */
  adapterWeight(name: string, t: CheckpointTensor, adapterFile: string): { name: string; dataType: number } {
    const shape = this.shapeOf(name);
    if (!shape) return this.stored(name, []); // throws: the base has no such tensor
    this.used.add(name); // the base's own, replaced: not reported as unread by checkAllUsed
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new SaeDiffError(`The adapter's copy of '${name}' has shape [${t.shape}], but the base's is [${shape}]`, {
        location: { file: adapterFile },
        hint: 'The fine-tune resized the vocabulary (new tokens): merge the adapter (merge_and_unload, then save_pretrained); base and fine-tune then need tokenizers that agree.',
      });
    }
    return this.adapterTensor(name, t, adapterFile);
  }

  /** An adapter's tensor as an initialiser in its stored type (float32, float16 or bfloat16). */
  private adapterTensor(name: string, t: CheckpointTensor, adapterFile: string): { name: string; dataType: number } {
    const dataType = DTYPES[t.dtype];
    if (dataType === undefined)
      throw new SaeDiffError(`The adapter's '${name}' is ${t.dtype}`, {
        location: { file: adapterFile },
        hint: 'Save the adapter in float32, float16 or bfloat16.',
      });
    const initializer = `sae_diff.adapter.${name}`;
    this.initializers.push(externalTensor(initializer, t, dataType, this.locate(t.file)));
    return { name: initializer, dataType };
  }

  /** A tensor the model has no use for, as transformers ignores it (Gemma 4's shared layers' key and value weights). */
  skip(name: string): void {
    this.used.add(name);
  }

  /**
   * GLM-4.5's multi-token prediction layers, saved after the decoder's as model.layers.<num_hidden_layers + i>
   * (num_nextn_predict_layers of them), which transformers does not run (_keys_to_ignore_on_load_unexpected).
   */
  private isMtpLayer(name: string): boolean {
    const { layers, mtpLayers } = this.spec;
    if (!mtpLayers || !name.startsWith(`${this.prefix}layers.`)) return false;
    const index = Number(name.slice(this.prefix.length + 'layers.'.length).split('.')[0]);
    return index >= layers && index < layers + mtpLayers;
  }

  /** Refuses a tensor the graph did not read (another architecture's, a quantisation's), naming it. */
  checkAllUsed(): void {
    const ignored = new Set([...this.names.afterBlocks, this.names.lmHead]);
    for (const name of this.files.tensors.keys()) {
      if (this.used.has(name) || ignored.has(name) || DERIVED.test(name)) continue;
      if (this.spec.visionTower && VISION_PARTS.test(name)) continue;
      if (MTP_FAMILIES.has(this.spec.family) && MTP_PARTS.test(name)) continue;
      if (this.isMtpLayer(name)) continue;
      throw new SaeDiffError(`The checkpoint holds '${name}', which a ${this.spec.family} model with this config.json does not have`, {
        location: { file: this.files.main },
        hint: 'The weights are of another architecture or carry a quantisation or adapter: export the model to ONNX, or merge the adapter first.',
      });
    }
  }
}

/** An initialiser whose bytes are `t`'s, read by ONNX Runtime from `location` (onnx.proto's external data). */
function externalTensor(name: string, t: CheckpointTensor, dataType: number, location: string): onnx.ITensorProto {
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

/** Whether every weight of the checkpoint is stored as float16 (then a GPU run computes in float16). */
export function allFloat16(files: CheckpointFiles): boolean {
  return [...files.tensors.entries()].every(([name, t]) => t.dtype === 'F16' || DERIVED.test(name));
}
