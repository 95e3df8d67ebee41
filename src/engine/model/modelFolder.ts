import * as fs from 'fs';
import * as path from 'path';
import type { HookPoint, ModelSpec, ResolvedConfig } from '../config/types';
import type { SourceLocation } from '../core/errors';
import { SaeDiffError } from '../core/errors';
import { READ_CAPS, readJsonBounded } from '../io/boundedRead';
import { CHECKPOINT_FILES, checkpointMainFile } from './checkpoint/checkpointFiles';
import { checkpointSpec } from './checkpoint/decoderConfig';
import { ADAPTER_CONFIG, isAdapterFolder, readLoraAdapter } from './checkpoint/loraAdapter';
import { adapterSource, checkpointSource, type ModelSource, onnxSource } from './modelSource';

/** What a model folder holds, resolved to files. */
export interface ModelFiles {
  spec: ModelSpec;
  /** The ONNX export, or (when the folder has none) the safetensors checkpoint the graph is built from. */
  source: ModelSource;
  /** config.json: the folder's, or for a LoRA adapter folder the base's. */
  configPath: string;
  configJson: HfModelConfig;
  tokenizerJsonPath: string;
  tokenizerConfigPath?: string;
}

export interface HfModelConfig {
  model_type?: string;
  hidden_size?: number;
  n_embd?: number;
  num_hidden_layers?: number;
  n_layer?: number;
  [key: string]: unknown;
}

/** The text decoder's part of config.json: a multimodal model's `text_config` (transformers' get_text_config), else all of it. */
function textPart(c: HfModelConfig): HfModelConfig {
  const t = c.text_config;
  return t && typeof t === 'object' && !Array.isArray(t) ? (t as HfModelConfig) : c;
}

export function hiddenSize(config: HfModelConfig): number | undefined {
  const c = textPart(config);
  return positiveInteger(c.hidden_size ?? c.n_embd ?? c.d_model);
}

/** The attention's heads as config.json gives them: query heads, key/value heads (grouped-query attention), head size. */
export interface AttentionHeads {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * The attention's heads: `num_key_value_heads` (else as many as the query heads: GPT-2, GPT-NeoX, Phi) and
 * `head_dim` (else hidden / heads: Gemma 2 2B's 8 x 256 = 2048 beside its hidden size 2304).
 */
export function attentionHeads(config: HfModelConfig): AttentionHeads | undefined {
  const c = textPart(config);
  // Gemma 4's full-attention layers have heads of their own size (global_head_dim, per_layer_config): no one width
  if (c.global_head_dim !== undefined || c.per_layer_config !== undefined) return undefined;
  const heads = positiveInteger(c.num_attention_heads ?? c.n_head ?? c.num_heads);
  // multi-head latent attention (GLM-4.7-Flash): o_proj reads each head's v_head_dim values
  if (c.kv_lora_rank !== undefined && heads !== undefined) {
    const value = positiveInteger(c.v_head_dim);
    return value === undefined ? undefined : { heads, kvHeads: heads, headDim: value };
  }
  const hidden = hiddenSize(config);
  if (heads === undefined) return undefined;
  const headDim = positiveInteger(c.head_dim) ?? (hidden !== undefined && hidden % heads === 0 ? hidden / heads : undefined);
  const kvHeads = positiveInteger(c.num_key_value_heads) ?? heads;
  return headDim === undefined ? undefined : { heads, kvHeads, headDim };
}

/** The width of TransformerLens's hook_z flattened: attention heads times head size. */
export function attentionWidth(config: HfModelConfig): number | undefined {
  const h = attentionHeads(config);
  return h && h.heads * h.headDim;
}

/** What one token's hooked vector holds: the hidden size, or the attention width at attn_z. */
export function hookedWidth(config: HfModelConfig, hookPoint: HookPoint): number | undefined {
  return hookPoint === 'attn_z' ? attentionWidth(config) : hiddenSize(config);
}

export function layerCount(config: HfModelConfig): number | undefined {
  const c = textPart(config);
  return positiveInteger(c.num_hidden_layers ?? c.n_layer ?? c.num_layers);
}

/** The first size key config.json has that is not a positive integer (so "128" or -1 never reach a message). */
export function badSizeKey(config: HfModelConfig): string | undefined {
  const c = textPart(config);
  for (const keys of [
    ['hidden_size', 'n_embd', 'd_model'],
    ['num_hidden_layers', 'n_layer', 'num_layers'],
  ]) {
    const k = keys.find((key) => c[key] !== undefined && c[key] !== null);
    if (k !== undefined && positiveInteger(c[k]) === undefined) return `${k} is ${JSON.stringify(c[k])}, not a positive integer`;
  }
  return undefined;
}

function positiveInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** Candidate ONNX files, in order of preference (transformers.js repos keep them under onnx/). */
export const ONNX_CANDIDATES = ['model.onnx', path.join('onnx', 'model.onnx'), path.join('onnx', 'model_fp16.onnx'), 'model_fp16.onnx'];

/**
 * A model folder's files. `base`: the resolved base model, for a fine-tune given as a LoRA adapter folder (its
 * graph is base's checkpoint with the adapter's branches; its config and, when it has none of its own, its
 * tokenizer are base's).
 */
export function resolveModelFiles(spec: ModelSpec, config: ResolvedConfig, base?: ModelFiles): ModelFiles {
  const where = config.locate(spec.key.replace(/\.(\d+)$/, '.$1.path'));
  if (!fs.existsSync(spec.path) || !fs.statSync(spec.path).isDirectory()) {
    throw new SaeDiffError(`Model folder not found: ${spec.path}`, {
      location: where,
      // the loader marks a value that reads as a hub id (config/modelId.ts) and was not found in the cache
      hint:
        spec.hubId !== undefined
          ? `This looks like a Hugging Face model id that is not in the local cache. Download it (\`hf download <id>\`: ${CHECKPOINT_ARCHITECTURES} run from their safetensors), or export it with \`optimum-cli export onnx --model <id> <folder>\` and give the folder.`
          : 'Give a folder that holds config.json, tokenizer.json and model.safetensors or model.onnx.',
    });
  }
  let onnxPath: string | undefined;
  if (spec.onnxFile) {
    onnxPath = path.resolve(spec.path, spec.onnxFile);
    if (!fs.existsSync(onnxPath)) throw new SaeDiffError(`ONNX file not found: ${onnxPath}`, { location: where, hint: 'Check onnx_file.' });
  } else {
    onnxPath = ONNX_CANDIDATES.map((c) => path.join(spec.path, c)).find((c) => fs.existsSync(c));
  }
  const checkpoint = onnxPath ? undefined : checkpointMainFile(spec.path);
  if (!onnxPath && !checkpoint && isAdapterFolder(spec.path)) return adapterFiles(spec, where, base);
  if (!onnxPath && !checkpoint) {
    throw new SaeDiffError(`No model in ${spec.path} (looked for ${[...ONNX_CANDIDATES, ...CHECKPOINT_FILES].join(', ')})`, {
      location: where,
      hint: NO_MODEL_HINT,
    });
  }
  const configPath = path.join(spec.path, 'config.json');
  if (!fs.existsSync(configPath))
    throw new SaeDiffError(`Missing config.json in ${spec.path}`, {
      location: where,
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  const configJson = readJson(configPath) as HfModelConfig;
  if (configJson === null || typeof configJson !== 'object' || Array.isArray(configJson)) {
    throw new SaeDiffError('config.json is not a JSON object', {
      location: { file: configPath },
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  }
  const badSize = badSizeKey(configJson);
  if (badSize)
    throw new SaeDiffError(`In config.json, ${badSize}`, {
      location: { file: configPath },
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  const tokenizerJsonPath = path.join(spec.path, 'tokenizer.json');
  if (!fs.existsSync(tokenizerJsonPath))
    throw new SaeDiffError(`Missing tokenizer.json in ${spec.path}`, {
      location: where,
      hint: 'Save the tokenizer with tokenizer.save_pretrained(<folder>).',
    });
  const tc = path.join(spec.path, 'tokenizer_config.json');
  const source = onnxPath ? onnxSource(onnxPath) : checkpointSource(checkpoint!, configPath, checkpointSpec(configJson, configPath));
  return { spec, source, configPath, configJson, tokenizerJsonPath, tokenizerConfigPath: fs.existsSync(tc) ? tc : undefined };
}

/** A fine-tune given as a PEFT LoRA adapter folder, applied on base's checkpoint. */
function adapterFiles(spec: ModelSpec, where: SourceLocation, base: ModelFiles | undefined): ModelFiles {
  if (!base) {
    throw new SaeDiffError(`${spec.path} is a LoRA adapter (${ADAPTER_CONFIG}); the base must be a whole model`, {
      location: where,
      hint: 'Give the model the adapter was trained on as models.base, and the adapter folder as a fine-tune.',
    });
  }
  if (base.source.format !== 'checkpoint' || base.source.adapter) {
    throw new SaeDiffError(
      `The LoRA adapter ${spec.path} needs the base as a Hugging Face checkpoint, but base runs from ${base.source.file}`,
      {
        location: where,
        hint: "Give the base's Hugging Face folder (config.json, model.safetensors) as models.base, or merge the adapter (merge_and_unload) and export the merged model.",
      },
    );
  }
  const own = (f: string) => (fs.existsSync(path.join(spec.path, f)) ? path.join(spec.path, f) : undefined);
  // what the adapter was saved with wins (a chat SFT may add a template); the rest is base's
  const tokenizerJsonPath = own('tokenizer.json') ?? base.tokenizerJsonPath;
  const tokenizerConfigPath = own('tokenizer_config.json') ?? (own('tokenizer.json') ? undefined : base.tokenizerConfigPath);
  return {
    spec,
    source: adapterSource(base.source, readLoraAdapter(spec.path)),
    configPath: base.configPath,
    configJson: base.configJson,
    tokenizerJsonPath,
    tokenizerConfigPath,
  };
}

/** The architectures whose safetensors run as they are (model/checkpoint/), as a download hint names them. */
export const CHECKPOINT_ARCHITECTURES =
  'Llama, Mistral (and Mistral 3, Ministral 3), Qwen2, 3, 3.5 and Qwen3-Next, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA (and NeXT, OneVision), InternVL, Aya Vision, LFM2-VL, SmolVLM and Idefics3 (their text decoders), Gemma 1 to 4, Phi, SmolLM3, OLMo 2, 3 and Hybrid, Granite 3 and 4.0-H (Tiny and Small with their experts), Bamba, Falcon-H1, StarCoder2, GLM and GLM-4, StableLM 2, LFM2, Nemotron-H (Nemotron 3 with its experts), EXAONE 4, Cohere and Cohere2, Seed-OSS, ERNIE 4.5, Apertus, Hunyuan, Arcee AFM, GPT-2, GPT-NeoX and the mixtures of experts Mixtral, Qwen-MoE (2, 3 and 3.5), OLMoE, LFM2-MoE, Granite 3 MoE, GLM-4.5 and 4.7-Flash, DeepSeek-V2 and V3, ERNIE 4.5 and GPT-OSS (its MXFP4 release too)';

/** What to do about a folder without a model. */
export const NO_MODEL_HINT =
  'Save the model with save_pretrained (config.json, model.safetensors) or export it with `optimum-cli export onnx`, or name the ONNX file with onnx_file.';

/** A small JSON file, read bounded (regular file, size cap) and refused if it holds a non-finite number. */
export function readJson(file: string, maxBytes: number = READ_CAPS.config): unknown {
  return readJsonBounded(file, maxBytes);
}
