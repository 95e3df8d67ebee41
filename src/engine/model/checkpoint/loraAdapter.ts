/**
 * A PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`, as PeftModel.save_pretrained
 * writes them, or `adapter_model.bin` as it writes with safe_serialization=False, the default before PEFT 0.7;
 * load_peft_weights takes the safetensors first and reads the .bin weights-only): the fine-tune is the base checkpoint with, on each adapted Linear, PEFT's
 * `result + lora_B(lora_A(dropout(x))) * scaling` (peft/tuners/lora/layer.py, Linear.forward; dropout is off at
 * inference), scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (LoraLayer.update_layer). Saved
 * keys are `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r]
 * (peft/utils/save_and_load.py: get_peft_model_state_dict drops the adapter name). On the token embedding: LoRA as
 * lora.Embedding (`lora_embedding_A` [r, vocab], `lora_embedding_B` [hidden, r]), and a whole copy of the table
 * (modules_to_save, or the base layer saved beside a LoRA on it), which replaces the base's. On nn.Parameters
 * (target_parameters, PEFT's ParamWrapper): experts' weights plus the LoRA's delta (graphParts.ts
 * Projections.parameterDelta), as PEFT writes them for GPT-OSS and for the mixtures of experts transformers 5 fuses
 * (its all-linear and expert targets become target_parameters there, with alpha_pattern and rank_pattern for the fused
 * gate_up_proj). Per-module alphas (alpha_pattern) are read as PEFT matches them. DoRA (use_dora): each
 * Linear's `lora_magnitude_vector` [out] rescales its output rows (lora/dora.py). Variants that compute
 * something else (lora_bias, aLoRA, trainable tokens, layer replication, and the LoraConfig fields PEFT 0.21 tags
 * `is_lora_variant`) are refused, naming the key, and so is any key this
 * reader does not know that is set: a later PEFT's variant must not run as plain LoRA.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../../core/errors';
import { READ_CAPS, readJsonBounded } from '../../io/boundedRead';
import { readCheckpointFiles, type CheckpointFiles, type CheckpointTensor } from './checkpointFiles';

export const ADAPTER_CONFIG = 'adapter_config.json';
/** The adapter's weight files, in the order load_peft_weights takes them (peft/utils/save_and_load.py). */
export const ADAPTER_WEIGHTS = ['adapter_model.safetensors', 'adapter_model.bin'];
const SAVED_PREFIX = 'base_model.model.';

export interface LoraModule {
  /** linear: lora_A.weight [r, in], lora_B.weight [out, r]; embedding (PEFT's lora.Embedding): lora_embedding_A [r, vocab], lora_embedding_B [hidden, r]. */
  kind: 'linear' | 'embedding';
  a: CheckpointTensor;
  b: CheckpointTensor;
  /** float32, as the branch's product is scaled in PyTorch. */
  scaling: number;
  /** DoRA (use_dora): the module's lora_magnitude_vector [out]. */
  magnitude?: CheckpointTensor;
}

export interface LoraAdapter {
  /** adapter_model.safetensors or adapter_model.bin. */
  file: string;
  configFile: string;
  /** By module name as the base checkpoint names it (`model.layers.0.self_attn.q_proj`). */
  modules: Map<string, LoraModule>;
  /** Tensors of modules the run never reaches (lm_head), ignored. */
  ignored: string[];
  /**
   * Whole weights the adapter replaces in the base, by module name: the token embedding as PEFT saves it in
   * modules_to_save (`embed_tokens.weight`, the trained copy) or with save_embedding_layers beside a LoRA on it
   * (`embed_tokens.base_layer.weight`); set_peft_model_state_dict loads either over the base's.
   */
  replaced: Map<string, CheckpointTensor>;
  /**
   * target_parameters: the nn.Parameters PEFT's ParamWrapper adapts (`1.mlp.experts.gate_up_proj`), each matching
   * a parameter whose full name is it or ends with `.` + it (tuners_utils.py _inject_parameters). Their LoRA
   * matrices are among `modules`, under the parameter's module (`model.layers.1.mlp.experts`, nested wrappers as
   * `...experts.base_layer`), with lora_A [r · experts, in] and lora_B [out, r · experts].
   */
  targetParameters: string[];
  /** target_modules as saved (names, or one regular expression), which tells the modules from the parameters' owners. */
  targetModules?: string[] | string;
  /** lora_alpha and use_rslora: a parameter's scaling needs its rank, which its matrices give with the experts' count. */
  alpha: number;
  rslora: boolean;
  /** alpha_pattern: (pattern, alpha) in the config's order, each matching a key as PEFT's get_pattern_key does. */
  alphaPattern: [RegExp, number][];
  /** r and rank_pattern, read alike: the rank a parameter's LoRA must have (its matrices hold it once per expert). */
  rank?: number;
  rankPattern: [RegExp, number][];
  /** adapter_config.json's base_model_name_or_path: what it was trained on, as PEFT recorded it. */
  trainedOn?: string;
  files: CheckpointFiles;
}

export function isAdapterFolder(folder: string): boolean {
  return fs.existsSync(path.join(folder, ADAPTER_CONFIG));
}

function refuse(file: string, key: string, message: string): SaeDiffError {
  return new SaeDiffError(message, {
    location: { file, key },
    hint: 'Merge the adapter into the base (PeftModel.merge_and_unload(), then save_pretrained) and give that folder.',
  });
}

/** Keys whose non-default value makes PEFT compute something other than plain LoRA. */
const REFUSED: [key: string, isSet: (v: unknown) => boolean, what: string][] = [
  ['lora_bias', (v) => v === true, 'LoRA biases (lora_bias) are not built'],
  ['bias', (v) => v !== undefined && v !== null && v !== 'none', 'Adapters that train the base biases are not built'],
  ['layer_replication', (v) => Array.isArray(v) && v.length > 0, 'layer_replication is not built'],
  ['alora_invocation_tokens', (v) => Array.isArray(v) && v.length > 0, 'Activated LoRA (alora_invocation_tokens) is not built'],
  ['trainable_token_indices', (v) => v !== undefined && v !== null, 'Trainable token embeddings are not built'],
  // the other LoRA variants of PEFT 0.21 (LoraConfig fields with is_lora_variant, and init_lora_weights "mica",
  // which selects MiCALinearVariant for the forward pass too; peft/tuners/lora/layer.py, resolve_lora_variant)
  ['arrow_config', (v) => !!v, 'Arrow routing (arrow_config) is not built'],
  ['use_bdlora', (v) => !!v, 'Block-diagonal LoRA (use_bdlora) is not built'],
  ['velora_config', (v) => !!v, 'VeLoRA (velora_config) is not built'],
  ['monteclora_config', (v) => !!v, 'MonteCLoRA (monteclora_config) is not built'],
  ['kasa_config', (v) => !!v, 'KaSA (kasa_config) is not built'],
  ['init_lora_weights', (v) => v === 'mica', 'MiCA adapters (init_lora_weights "mica") are not built'],
  ['use_qalora', (v) => v === true, 'QA-LoRA (use_qalora) is not built'],
];

/**
 * The other keys adapter_config.json has had (PEFT 0.3 to 0.21): what the reader uses, what only shapes
 * initialisation or training, and selections the saved tensors already reflect. Any key outside these and
 * REFUSED that is set (not null, false, 0, "" or empty) is refused.
 */
const KNOWN = new Set([
  'task_type',
  'peft_type',
  'auto_mapping',
  'peft_version',
  'base_model_name_or_path',
  'revision',
  'inference_mode',
  'r',
  'target_modules',
  'exclude_modules',
  'lora_alpha',
  'lora_dropout',
  // PEFT sets it for GPT-2's Conv1D (weights stored [in, out]); it transposes only the merged delta, the unmerged
  // forward is lora_B(lora_A(x)) either way (peft/tuners/lora/layer.py Linear.forward, get_delta_weight)
  'fan_in_fan_out',
  'use_rslora',
  // LoRA on nn.Parameters (PEFT's ParamWrapper): read for experts (graphParts.ts Projections.parameterDelta)
  'target_parameters',
  // per-module and per-parameter alphas (alphaFor) and ranks (rankFor: what a parameter's matrices must hold)
  'alpha_pattern',
  // DoRA: read with each module's lora_magnitude_vector (graphParts.ts Projections.linearRows)
  'use_dora',
  'modules_to_save',
  'layers_to_transform',
  'layers_pattern',
  'rank_pattern',
  'megatron_config',
  'megatron_core',
  'loftq_config',
  'eva_config',
  'corda_config',
  'lora_ga_config',
  'qalora_group_size',
  'runtime_config',
  'ensure_weight_tying',
  'enable_lora',
  'merge_weights',
]);

function isSetValue(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return !!v;
}

/** Reads and checks a LoRA adapter folder. */
export function readLoraAdapter(folder: string): LoraAdapter {
  const configFile = path.join(folder, ADAPTER_CONFIG);
  const cfg = readJsonBounded(configFile, READ_CAPS.config) as Record<string, unknown>;
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) throw refuse(configFile, '', `${ADAPTER_CONFIG} is not a JSON object`);
  if (cfg.peft_type !== 'LORA') throw refuse(configFile, 'peft_type', `peft_type ${JSON.stringify(cfg.peft_type)} is not built (LORA is)`);
  const targetParameters = parameterTargets(cfg, configFile);
  const alphaPattern = patternOf(cfg, 'alpha_pattern', configFile);
  const rankPattern = patternOf(cfg, 'rank_pattern', configFile);
  for (const [key, isSet, what] of REFUSED) if (isSet(cfg[key])) throw refuse(configFile, key, what);
  const refusedKeys = new Set(REFUSED.map(([key]) => key));
  const unknown = Object.keys(cfg).find((k) => !KNOWN.has(k) && !refusedKeys.has(k) && isSetValue(cfg[k]));
  if (unknown !== undefined)
    throw refuse(
      configFile,
      unknown,
      `${ADAPTER_CONFIG} sets ${unknown}, which sae-diff does not know (PEFT ${String(cfg.peft_version ?? 'of an unknown version')} wrote it); it may change what the adapter computes`,
    );
  const alpha = cfg.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw refuse(configFile, 'lora_alpha', `lora_alpha is ${JSON.stringify(alpha)}, not a number`);
  const file = ADAPTER_WEIGHTS.map((f) => path.join(folder, f)).find((f) => fs.existsSync(f));
  if (!file) {
    throw new SaeDiffError(`The adapter folder has neither ${ADAPTER_WEIGHTS.join(' nor ')}`, {
      location: { file: configFile },
      hint: "Copy the adapter's weights beside adapter_config.json, or save the adapter again with save_pretrained.",
    });
  }
  const files = readCheckpointFiles(file);
  const halves = new Map<string, { kind: LoraModule['kind'] } & Partial<Record<'a' | 'b', CheckpointTensor>>>();
  const ignored: string[] = [];
  const replaced = new Map<string, CheckpointTensor>();
  const magnitudes = new Map<string, CheckpointTensor>();
  for (const [name, t] of files.tensors) {
    // the head (a LoRA on it, or modules_to_save): the run stops before lm_head, and logit effects use base's
    if (/^base_model\.model\.lm_head\./.test(name)) {
      ignored.push(name);
      continue;
    }
    const local = name.startsWith(SAVED_PREFIX) ? name.slice(SAVED_PREFIX.length) : undefined;
    const linear = local === undefined ? null : /^(.+)\.lora_([AB])\.weight$/.exec(local);
    const embedding = local === undefined ? null : /^(.+)\.lora_embedding_([AB])$/.exec(local);
    const whole = local === undefined ? null : /^(.*(?:^|\.)embed_tokens)(?:\.base_layer)?\.weight$/.exec(local);
    if (whole) {
      if (replaced.has(whole[1])) throw refuse(file, '', `The adapter holds two copies of ${whole[1]}'s weight`);
      replaced.set(whole[1], t);
      continue;
    }
    const magnitude = local === undefined ? null : /^(.+)\.lora_magnitude_vector$/.exec(local);
    if (magnitude) {
      if (t.shape.length !== 1) throw refuse(file, '', `'${name}' has shape [${t.shape}], not a vector`);
      magnitudes.set(magnitude[1], t);
      continue;
    }
    const m = linear ?? embedding;
    if (!m) {
      throw refuse(
        file,
        '',
        `The adapter holds '${name}', which is not a LoRA A or B matrix of a Linear or Embedding layer, nor a saved token embedding`,
      );
    }
    if (t.shape.length !== 2) throw refuse(file, '', `'${name}' has shape [${t.shape}], not a matrix`);
    const half = halves.get(m[1]) ?? { kind: linear ? 'linear' : 'embedding' };
    half[m[2] === 'A' ? 'a' : 'b'] = t;
    halves.set(m[1], half);
  }
  const modules = new Map<string, LoraModule>();
  for (const [module, { kind, a, b }] of halves) {
    const names = kind === 'linear' ? ['lora_A', 'lora_B'] : ['lora_embedding_A', 'lora_embedding_B'];
    if (!a || !b) throw refuse(file, '', `The adapter has ${names[a ? 0 : 1]} of ${module} but not ${names[a ? 1 : 0]}`);
    const r = a.shape[0];
    if (b.shape[1] !== r) throw refuse(file, '', `${module}: ${names[0]} has rank ${r} but ${names[1]} is [${b.shape}]`);
    const magnitude = magnitudes.get(module);
    if ((cfg.use_dora === true) !== (magnitude !== undefined))
      throw refuse(
        magnitude ? file : configFile,
        magnitude ? '' : 'use_dora',
        magnitude
          ? `The adapter holds ${module}'s lora_magnitude_vector but ${ADAPTER_CONFIG} does not set use_dora`
          : `use_dora is set but the adapter holds no lora_magnitude_vector of ${module}`,
      );
    if (magnitude && kind === 'embedding') throw refuse(configFile, 'use_dora', `DoRA on an embedding (${module}) is not built`);
    if (magnitude && magnitude.shape[0] !== b.shape[0])
      throw refuse(file, '', `${module}: lora_magnitude_vector has ${magnitude.shape[0]} entries but lora_B has ${b.shape[0]} rows`);
    // a parameter's module: its key is the parameter's (1.mlp.gate.weight), whose rank and alpha graphParts.ts reads
    const owned = targetParameters.find((t) => t.includes('.') && ownerMatches(t, module.replace(/(\.base_layer)+$/, '')));
    const key = owned === undefined ? module : `${module.replace(/(\.base_layer)+$/, '')}.${owned.slice(owned.lastIndexOf('.') + 1)}`;
    const scaling = loraScaling({ alpha: alphaFor({ alpha, alphaPattern }, key), rslora: cfg.use_rslora === true }, r);
    modules.set(module, { kind, a, b, scaling, magnitude });
  }
  const orphan = [...magnitudes.keys()].find((m) => !halves.has(m));
  if (orphan !== undefined) throw refuse(file, '', `The adapter holds a lora_magnitude_vector of ${orphan} without its LoRA matrices`);
  if (modules.size === 0 && replaced.size === 0) throw refuse(file, '', 'The adapter holds no LoRA matrices');
  const trainedOn =
    typeof cfg.base_model_name_or_path === 'string' && cfg.base_model_name_or_path ? cfg.base_model_name_or_path : undefined;
  return {
    file,
    configFile,
    modules,
    ignored,
    replaced,
    files,
    trainedOn,
    targetParameters,
    alpha,
    rslora: cfg.use_rslora === true,
    alphaPattern,
    rank: typeof cfg.r === 'number' && Number.isSafeInteger(cfg.r) && cfg.r > 0 ? cfg.r : undefined,
    rankPattern,
    targetModules: Array.isArray(cfg.target_modules) || typeof cfg.target_modules === 'string' ? cfg.target_modules : undefined,
  };
}

/**
 * alpha_pattern or rank_pattern: each key a regular expression PEFT matches against a module's name (a parameter's:
 * its module's and its own, `model.layers.1.mlp.experts.gate_up_proj`) as re.match(rf"(.*\.)?({key})$", name)
 * (peft/utils/other.py get_pattern_key), the first matching key in the config's order giving the value. A key
 * JavaScript cannot read as Python does (Python-only syntax) is refused, naming it.
 */
function patternOf(cfg: Record<string, unknown>, field: 'alpha_pattern' | 'rank_pattern', configFile: string): [RegExp, number][] {
  const pattern = cfg[field];
  if (pattern === undefined || pattern === null) return [];
  if (typeof pattern !== 'object' || Array.isArray(pattern)) throw refuse(configFile, field, `${field} must map patterns to numbers`);
  return Object.entries(pattern as Record<string, unknown>).map(([key, value]) => {
    const where = `${field}.${key}`;
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw refuse(configFile, where, `${field}'s ${JSON.stringify(key)} is ${JSON.stringify(value)}, not a number`);
    if (/\(\?P|\(\?#|\\[AZz]|\(\?[aiLmsux]+\)/.test(key))
      throw refuse(configFile, where, `${field}'s ${JSON.stringify(key)} uses Python-only regular expression syntax`);
    try {
      return [new RegExp(`^(?:.*\\.)?(?:${key})$`), value];
    } catch {
      throw refuse(configFile, where, `${field}'s ${JSON.stringify(key)} is not a regular expression sae-diff can read`);
    }
  });
}

/** The alpha of the module or parameter `key` (model.layers.1.mlp.experts.gate_up_proj): alpha_pattern's, else lora_alpha. */
export function alphaFor(adapter: Pick<LoraAdapter, 'alpha' | 'alphaPattern'>, key: string): number {
  return adapter.alphaPattern.find(([pattern]) => pattern.test(key))?.[1] ?? adapter.alpha;
}

/** The rank PEFT gives the module or parameter `key`: rank_pattern's, else r (undefined where the config has none). */
export function rankFor(adapter: Pick<LoraAdapter, 'rank' | 'rankPattern'>, key: string): number | undefined {
  return adapter.rankPattern.find(([pattern]) => pattern.test(key))?.[1] ?? adapter.rank;
}

/** A LoRA's scaling at rank r (LoraLayer.update_layer): lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora; float32. */
export function loraScaling({ alpha, rslora }: Pick<LoraAdapter, 'alpha' | 'rslora'>, r: number): number {
  return Math.fround(rslora ? alpha / Math.sqrt(r) : alpha / r);
}

/** target_parameters as a list of names. */
function parameterTargets(cfg: Record<string, unknown>, configFile: string): string[] {
  const targets = cfg.target_parameters;
  if (targets === undefined || targets === null) return [];
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string' || t === ''))
    throw refuse(configFile, 'target_parameters', 'target_parameters must list parameter names');
  return targets as string[];
}

/**
 * Whether the adapter's module `name` holds a parameter's LoRA matrices (target_parameters): a nested wrapper
 * (`...experts.base_layer`), or the module a target names (`1.mlp.experts` of `1.mlp.experts.gate_up_proj`).
 */
export function isParameterModule(adapter: LoraAdapter, name: string): boolean {
  const unwrapped = name.replace(/(\.base_layer)+$/, '');
  if (unwrapped !== name || adapter.targetParameters.some((t) => ownerMatches(t, unwrapped))) return true;
  // a bare parameter name (gate_up_proj, as PEFT's conversion for transformers 5 writes it) names no module: a
  // module target_modules does not match holds a parameter's LoRA
  return adapter.targetParameters.some((t) => !t.includes('.')) && !matchesTargetModules(adapter.targetModules, unwrapped);
}

/** PEFT's check_target_module_exists: a name in the list, or a suffix after a dot; a string, as a whole-name regex. */
function matchesTargetModules(targets: LoraAdapter['targetModules'], module: string): boolean {
  if (targets === undefined) return true;
  if (typeof targets === 'string') {
    try {
      return new RegExp(`^(?:${targets})$`).test(module);
    } catch {
      return true;
    }
  }
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** Whether the target parameter `target` (`1.mlp.experts.gate_up_proj`, `gate.weight`) belongs to the module `module`. */
function ownerMatches(target: string, module: string): boolean {
  const owner = target.slice(0, Math.max(0, target.lastIndexOf('.')));
  return owner !== '' && (module === owner || module.endsWith(`.${owner}`));
}

/** Whether PEFT targets the parameter `full` (`model.layers.1.mlp.experts.gate_up_proj`) by `targets`. */
export function targetsParameter(targets: readonly string[], full: string): boolean {
  return targets.some((t) => full === t || full.endsWith(`.${t}`));
}

/** What the adapter changes, for the run's log and the editor's hover: "LoRA on 42 modules, rank 4 (DoRA); token embedding replaced". */
export function describeAdapter(adapter: LoraAdapter): string {
  const modules = [...adapter.modules].filter(([name]) => !isParameterModule(adapter, name)).map(([, m]) => m);
  const parameters = adapter.modules.size - modules.length;
  const ranks = [...new Set(modules.map((m) => m.a.shape[0]))].sort((a, b) => a - b);
  const parts: string[] = [];
  if (modules.length > 0)
    parts.push(
      `${modules.some((m) => m.magnitude) ? 'DoRA' : 'LoRA'} on ${modules.length} module${modules.length === 1 ? '' : 's'}, rank ${ranks.join('/')}` +
        (modules.some((m) => m.kind === 'embedding') ? ' (the token embedding among them)' : ''),
    );
  if (parameters > 0) parts.push(`LoRA on ${parameters} parameter${parameters === 1 ? '' : 's'} (target_parameters)`);
  if (adapter.replaced.size > 0) parts.push("token embedding replaced by the adapter's copy");
  return parts.join('; ');
}

/**
 * A warning when the adapter's recorded base (base_model_name_or_path) does not look like the base it is run on:
 * neither the hub id the config gives nor a folder of the same name (a path's last part). An adapter on another
 * model of the same shape runs without error and diffs nonsense.
 */
export function adapterBaseWarning(adapter: LoraAdapter, sft: string, base: { path: string; hubId?: string }): string | undefined {
  const recorded = adapter.trainedOn;
  if (!recorded) return undefined;
  const last = (p: string) =>
    p
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop()!
      .toLowerCase();
  if (recorded === base.hubId || last(recorded) === last(base.hubId ?? base.path)) return undefined;
  return `The LoRA adapter ${sft} was trained on '${recorded}' (base_model_name_or_path in ${ADAPTER_CONFIG}), but the base is ${base.hubId ?? base.path}: check that they are the same model.`;
}
