import * as fs from 'fs';
import * as path from 'path';
import type { Document, LineCounter } from 'yaml';
import { HubEnv, hubSaeHint, resolveModelPath, resolveSaePath } from '../model/hfCache';
import { CHECKPOINT_FILES } from '../model/checkpoint/checkpointFiles';
import { CHECKPOINT_ARCHITECTURES, NO_MODEL_HINT, ONNX_CANDIDATES } from '../model/modelFolder';
import { compileTemplate, renderPrompt } from '../data/dataset';
import type { ChatMessage } from '../data/promptRecords';
import { ConfigRefs, configRefs, ModelRef, PIPELINE, Segments } from '../config/configRefs';
import type { ConfigDiagnostic } from '../config/configDiagnostic';
import { dotted, keyRange, valueRange } from '../config/yamlNodes';
import { datasetFacts, ModelFacts, modelFacts, saeFacts, tokenizerFacts } from './facts';
import { SaeDiffError } from '../core/errors';
import { labelMismatches, LabelSet, readLabelSet } from '../report/labels';
import { cachedOnFiles } from './fileCache';
import { suggestSaeTemplate } from './saeTemplate';
import { sameFile } from '../io/sameFile';
import { datasetTarget } from '../config/modelId';
import { resolveDataset } from '../data/datasetSource';

export interface SemanticOptions {
  /** Environment for the Hugging Face cache lookup (HF_HUB_CACHE, HF_HOME, HOME). */
  env?: HubEnv;
}

export interface SemanticResult {
  diagnostics: ConfigDiagnostic[];
  /** Absolute files and folders the checks read: watch them to re-validate on change. */
  referencedPaths: string[];
}

/** Checks a config against the files it names (models, SAEs, tokenizers, prompts), header-only and cached. */
export function semanticDiagnostics(doc: Document, lc: LineCounter, configPath: string, options: SemanticOptions = {}): SemanticResult {
  const refs = configRefs(doc, configPath);
  const ctx: CheckContext = { doc, lc, refs, out: [], referenced: new Set() };
  const models = checkModels(ctx, options.env);
  const base = models.find((m) => m.ref.role === 'base')?.facts;
  checkLayers(ctx, base);
  checkSaes(ctx, base, options.env);
  checkLabels(ctx, options.env);
  checkDataset(ctx, chatTemplateSource(ctx.refs, models), runTemplate(ctx.refs, models), options.env);
  checkSavePath(ctx);
  return { diagnostics: ctx.out, referencedPaths: [...ctx.referenced] };
}

interface CheckContext {
  doc: Document;
  lc: LineCounter;
  refs: ConfigRefs;
  out: ConfigDiagnostic[];
  referenced: Set<string>;
}

function report(
  ctx: CheckContext,
  code: string,
  segments: Segments,
  message: string,
  data?: Record<string, unknown>,
  severity: ConfigDiagnostic['severity'] = 'error',
): void {
  ctx.out.push({
    severity,
    code,
    keyPath: dotted(segments),
    message,
    range: valueRange(ctx.doc, segments, ctx.lc),
    ...(data ? { data } : {}),
  });
}

/** Model folders: exist, hold ONNX + config.json + tokenizer.json, agree with the base. Returns the usable ones. */
function checkModels(ctx: CheckContext, env?: HubEnv): { ref: ModelRef; facts: ModelFacts }[] {
  const usable: { ref: ModelRef; facts: ModelFacts }[] = [];
  for (const ref of ctx.refs.models) {
    const resolved = resolveModelPath(ref.value, ctx.refs.configDir, env);
    ctx.referenced.add(resolved.folder);
    const facts = modelFacts(resolved.folder, ref.onnxFile);
    if (!facts.exists) {
      if (resolved.hubId) {
        // `org/name` may be a folder that is missing or a hub id: say what to do in both cases.
        report(
          ctx,
          'hub-model-not-exported',
          ref.segments,
          `Model folder not found: ${resolved.folder}. If '${ref.value}' is a Hugging Face model id, it is not in the local cache (${resolved.hubCacheDir}): ` +
            `download it with \`hf download ${ref.value}\` (${CHECKPOINT_ARCHITECTURES} run from their safetensors), or export it with \`optimum-cli export onnx --model ${ref.value} <folder>\` and give that folder.`,
          { hubId: ref.value },
        );
      } else {
        report(ctx, 'model-not-found', ref.segments, `Model folder not found: ${resolved.folder}.`);
      }
      continue;
    }
    if (!facts.isFolder) {
      report(
        ctx,
        'model-not-folder',
        ref.segments,
        `${ref.label} must be a folder (holding config.json, tokenizer.json and model.safetensors or model.onnx), not a file: ${resolved.folder}.`,
      );
      continue;
    }
    const adapter = facts.adapterPath !== undefined;
    const problems = [
      !facts.onnxPath &&
        !facts.checkpointPath &&
        !adapter &&
        (ref.onnxFile
          ? `ONNX file not found: ${path.resolve(facts.folder, ref.onnxFile)}.`
          : `No model in ${facts.folder} (looked for ${[...ONNX_CANDIDATES, ...CHECKPOINT_FILES].join(', ')}). ${NO_MODEL_HINT}`),
      // an adapter folder uses base's config.json, and base's tokenizer when it has none
      !adapter && !facts.hasConfigJson && `Missing config.json in ${facts.folder}.`,
      facts.configError && `${facts.configError} (${facts.folder}).`,
      !adapter && !facts.tokenizerPath && `Missing tokenizer.json in ${facts.folder}.`,
      facts.checkpointError && `${facts.checkpointError} (${path.join(facts.folder, 'config.json')}).`,
      facts.adapterError && `${facts.adapterError} (${facts.adapterPath}).`,
      adapter &&
        ref.role === 'base' &&
        `${ref.label} is a LoRA adapter folder: the base must be a whole model (give the adapter as a fine-tune).`,
    ];
    const codes = [
      'model-no-onnx',
      'model-no-config',
      'model-bad-config',
      'model-no-tokenizer',
      'model-bad-checkpoint',
      'model-bad-adapter',
      'model-adapter-as-base',
    ];
    problems.forEach((p, i) => p && report(ctx, codes[i], ref.segments, p));
    usable.push({ ref, facts });
  }
  const base = usable.find((u) => u.ref.role === 'base');
  if (!base) return usable;
  for (const other of usable) {
    if (other === base) continue;
    checkSameShape(ctx, base.facts, other);
    checkSameTokenizer(ctx, base.facts, other);
  }
  return usable;
}

/** The models whose chat template the run may take, in the order tokenise.ts tries them (dataset.chat_template_from). */
function templateOwners(refs: ConfigRefs, models: { ref: ModelRef; facts: ModelFacts }[]): (ModelFacts | undefined)[] {
  const from = refs.chatTemplateFrom;
  if (from === 'base' || from === 'sft') return [models.find((m) => m.ref.role === from)?.facts];
  return models.filter((m) => m.ref.role !== 'reference').map((m) => m.facts);
}

/** Whether the run will find a chat template; undefined: unknown. */
function chatTemplateSource(refs: ConfigRefs, models: { ref: ModelRef; facts: ModelFacts }[]): boolean | undefined {
  const owners = templateOwners(refs, models);
  if (owners.some((o) => o === undefined || o.hasChatTemplate === undefined)) return undefined;
  return owners.some((o) => o!.hasChatTemplate);
}

function checkSameShape(ctx: CheckContext, base: ModelFacts, other: { ref: ModelRef; facts: ModelFacts }): void {
  const diffs: string[] = [];
  const { hiddenSize: h, layerCount: n } = other.facts;
  if (h !== undefined && base.hiddenSize !== undefined && h !== base.hiddenSize) diffs.push(`hidden size ${h} vs ${base.hiddenSize}`);
  if (n !== undefined && base.layerCount !== undefined && n !== base.layerCount) diffs.push(`${n} layers vs ${base.layerCount}`);
  if (diffs.length)
    report(
      ctx,
      'model-shape-mismatch',
      other.ref.segments,
      `${other.ref.label} is not a fine-tune of the base model's architecture: ${diffs.join(', ')}.`,
    );
}

function checkSameTokenizer(ctx: CheckContext, base: ModelFacts, other: { ref: ModelRef; facts: ModelFacts }): void {
  if (!base.tokenizerPath || !other.facts.tokenizerPath) return;
  const a = tokenizerFacts(base.tokenizerPath);
  const b = tokenizerFacts(other.facts.tokenizerPath);
  if (a.contentHash === b.contentHash) return;
  const unreadable = a.error ?? b.error;
  if (unreadable) {
    report(ctx, 'tokenizer-unreadable', other.ref.segments, `Cannot compare the tokenizers: ${unreadable}.`);
    return;
  }
  if (a.vocabHash === b.vocabHash) return; // same vocabulary: token ids line up even if other settings differ
  const sizes =
    a.vocabSize === b.vocabSize ? `both ${a.vocabSize} tokens, different ids` : `${b.vocabSize} tokens vs the base's ${a.vocabSize}`;
  report(
    ctx,
    'tokenizer-mismatch',
    other.ref.segments,
    `The tokenizer of ${other.ref.label} differs from the base model's (${sizes}): the comparison needs the same token ids. Use the base tokenizer.json for the fine-tune.`,
  );
}

function checkLayers(ctx: CheckContext, base: ModelFacts | undefined): void {
  const count = base?.layerCount;
  if (count === undefined) return;
  const linear = ctx.refs.hookPoint === 'attn_z' ? new Set(base?.linearAttentionLayers) : new Set<number>();
  for (const t of ctx.refs.targets) {
    if (linear.has(t.layer)) {
      const full = Array.from({ length: count }, (_, l) => l).filter((l) => !linear.has(l));
      report(
        ctx,
        'attn-z-linear-attention-layer',
        t.segments,
        `Layer ${t.layer} is a linear-attention, convolution or state-space layer, which has no attention heads and so no attn_z. The base model's full-attention layers are ${full.join(', ')}.`,
        { layer: t.layer, fullAttentionLayers: full },
      );
    }
    if (t.layer < count) continue; // count is a positive integer (modelFacts refuses any other)
    report(ctx, 'layer-out-of-range', t.segments, `Layer ${t.layer} does not exist: the base model has ${count} layers (0-${count - 1}).`, {
      layer: t.layer,
      index: t.index,
      layerCount: count,
    });
  }
}

/** One SAE folder and the target layers it is assigned to (a single path serves several layers). */
interface SaeGroup {
  folder: string;
  value: string;
  segments: Segments;
  layers: number[];
  /** How to get it into the hub cache, when the value reads as a hub repo path that is not there. */
  hubHint?: string;
}

function checkSaes(ctx: CheckContext, base: ModelFacts | undefined, env?: HubEnv): void {
  const { refs } = ctx;
  if (refs.saeMissingLayers.length) {
    const ls = refs.saeMissingLayers.join(', ');
    ctx.out.push({
      severity: 'error',
      code: 'sae-missing-layer',
      keyPath: dotted([PIPELINE, 'sae', 'path']),
      range: keyRange(ctx.doc, [PIPELINE, 'sae', 'path'], ctx.lc),
      message: `sae.path has no SAE for target layer${refs.saeMissingLayers.length > 1 ? 's' : ''} ${ls}. Add "${refs.saeMissingLayers[0]}: <folder>" or use a template with {layer}.`,
      data: { layers: refs.saeMissingLayers },
    });
  }
  const inRange = (l: number) => base?.layerCount === undefined || l < base.layerCount;
  const groups = new Map<string, SaeGroup>();
  for (const s of refs.saes) {
    if (!inRange(s.layer)) continue; // already reported on the layer index
    const resolved = resolveSaePath(s.value, refs.configDir, env);
    const folder = resolved.folder;
    const key = `${folder}\0${dotted(s.segments)}`;
    const hubHint = resolved.hub && !resolved.hub.found ? hubSaeHint(resolved.hub, env) : undefined;
    const g = groups.get(key) ?? { folder, value: s.value, segments: s.segments, layers: [], hubHint };
    g.layers.push(s.layer);
    groups.set(key, g);
  }
  for (const g of groups.values()) checkSaeGroup(ctx, g, base);
}

function layerList(layers: number[]): string {
  return `${layers.length > 1 ? 'layers' : 'layer'} ${layers.join(', ')}`;
}

function checkSaeGroup(ctx: CheckContext, g: SaeGroup, base: ModelFacts | undefined): void {
  ctx.referenced.add(g.folder);
  const facts = saeFacts(g.folder, ctx.refs.saeFormat);
  if (!facts.info) {
    const code = fs.existsSync(g.folder) ? 'sae-invalid' : 'sae-not-found';
    const hint = g.hubHint ? ` ${g.hubHint}` : '';
    report(ctx, code, g.segments, `No usable SAE for ${layerList(g.layers)}: ${facts.error}${hint}`, { layers: g.layers });
    return;
  }
  const info = facts.info;
  // attn_z reads the heads' outputs before W_O: heads x head_dim wide (where the SAE says its hook, that one: a
  // hook point set wrongly is reported below, not as a model mismatch)
  const z = (info.hookPoint ?? ctx.refs.hookPoint) === 'attn_z';
  const width = z ? base?.attentionWidth : base?.hiddenSize;
  if (width !== undefined && info.dIn !== width) {
    report(
      ctx,
      'sae-d-in-mismatch',
      g.segments,
      `The SAE for ${layerList(g.layers)} has d_in ${info.dIn}, but the base model's ${z ? 'attention width (heads x head_dim)' : 'hidden size'} is ${width}: it was trained on another model (${g.folder}).`,
      { dIn: info.dIn, hiddenSize: width },
    );
  }
  if (info.hookPoint !== undefined && info.hookPoint !== ctx.refs.hookPoint) {
    // the SAE says where it reads the model: hooking another point diffs the wrong activations
    const segs = ctx.refs.hookPointWritten ? [PIPELINE, 'layers', 'hook_point'] : g.segments;
    report(
      ctx,
      'sae-hook-point-mismatch',
      segs,
      `The SAE for ${layerList(g.layers)} reads ${info.hookPoint} (hook ${info.hookName ?? '?'}), but layers.hook_point is ${ctx.refs.hookPoint}${ctx.refs.hookPointWritten ? '' : ' (the default)'}. Set layers.hook_point: ${info.hookPoint}.`,
      { hookPoint: info.hookPoint, written: ctx.refs.hookPointWritten },
    );
  }
  checkProcessing(ctx, g, info, base);
  if (!ctx.refs.checkHookLayer || !Number.isInteger(info.hookLayer) || (info.hookLayer as number) < 0) return;
  const wrong = g.layers.filter((l) => l !== info.hookLayer);
  if (!wrong.length) return;
  const template =
    ctx.refs.saePathKind === 'single'
      ? suggestSaeTemplate(
          g.value,
          ctx.refs.configDir,
          ctx.refs.targets.map((t) => t.layer).filter((l) => base?.layerCount === undefined || l < base.layerCount),
          info.hookLayer,
        )
      : undefined;
  const remedy = template ? `Use the template '${template}'` : `Assign it to layer ${info.hookLayer}, fix sae.path`;
  report(
    ctx,
    'sae-hook-layer-mismatch',
    g.segments,
    `The SAE assigned to ${layerList(wrong)} was trained on layer ${info.hookLayer} (hook ${info.hookName ?? '?'}). ${remedy}, or set sae.check_hook_layer: false if this is intended.`,
    { layers: wrong, hookLayer: info.hookLayer, ...(template ? { template } : {}) },
  );
}

/** Model types that normalise with LayerNorm, whose stream TransformerLens's center_writing_weights centres. */
const LAYER_NORM_MODELS = new Set([
  'gpt2',
  'gpt_neox',
  'gptj',
  'gpt_neo',
  'gpt_bigcode',
  'opt',
  'bloom',
  'phi',
  'stablelm',
  'falcon',
  'mpt',
  'codegen',
]);

/** Model types whose attention has a value bias, which TransformerLens's fold_value_biases takes out of hook_z. */
const VALUE_BIAS_MODELS = new Set([
  'gpt2',
  'gpt_neox',
  'phi',
  'qwen2',
  'qwen2_moe',
  'opt',
  'bloom',
  'starcoder2',
  'gpt_bigcode',
  'glm',
  'glm4',
]);

/**
 * What the run warns about TransformerLens's processing (pipeline/modelProcessing.ts), said in the editor where the
 * base's model_type tells its norm and its value biases: an older SAELens config that does not say whether it read a
 * LayerNorm model's stream centred, or (at attn_z) hook_z with the value biases folded out.
 */
function checkProcessing(
  ctx: CheckContext,
  g: SaeGroup,
  info: NonNullable<ReturnType<typeof saeFacts>['info']>,
  base: ModelFacts | undefined,
): void {
  if (!info.modelProcessing?.unstated || !base?.modelType) return;
  const z = ctx.refs.hookPoint === 'attn_z';
  if (z ? !VALUE_BIAS_MODELS.has(base.modelType) : !LAYER_NORM_MODELS.has(base.modelType)) return;
  const said = z
    ? `whether TransformerLens folded the ${base.modelType} value biases out of the hook_z it trained on (fold_value_biases, its default then); the run reads hook_z with them. If it was trained with them folded, add "model_from_pretrained_kwargs": {"fold_value_biases": true} to its cfg.json.`
    : `whether TransformerLens centred the ${base.modelType} stream it trained on (center_writing_weights, its default then); the run reads it uncentred. If it was trained centred, add "model_from_pretrained_kwargs": {"center_writing_weights": true} to its cfg.json.`;
  report(
    ctx,
    z ? 'sae-value-bias-folding-unstated' : 'sae-centring-unstated',
    g.segments,
    `The SAE for ${layerList(g.layers)} was saved before SAELens 3.19.2 and does not say ${said}`,
    { layers: g.layers },
    'warning',
  );
}

/** Label files read exactly as `run` reads them (readLabelSet), so that validate passing means run reads them. */
function checkLabels(ctx: CheckContext, env?: HubEnv): void {
  const seen = new Set<string>();
  for (const l of ctx.refs.labels) {
    const file = path.resolve(ctx.refs.configDir, l.value);
    if (seen.has(`${file}\0${l.layer}`)) continue;
    seen.add(`${file}\0${l.layer}`);
    ctx.referenced.add(file);
    if (!fs.existsSync(file)) {
      if (l.fromTemplate)
        report(
          ctx,
          'labels-missing-layer',
          l.segments,
          `No labels file for layer ${l.layer} (${file}): its features will show their ids.`,
          { layer: l.layer },
          'warning',
        );
      else report(ctx, 'labels-not-found', l.segments, `Labels file not found for layer ${l.layer}: ${file}.`);
      continue;
    }
    const facts = labelFacts(file);
    if (facts.error) {
      report(ctx, 'labels-invalid', l.segments, `Labels for layer ${l.layer}: ${facts.error}`);
      continue;
    }
    const set = facts.set!;
    if (set.labels.size === 0)
      report(
        ctx,
        'labels-empty',
        l.segments,
        `The labels for layer ${l.layer} (${file}) are empty: its features will show their ids.`,
        undefined,
        'warning',
      );
    const sae = ctx.refs.saes.find((s) => s.layer === l.layer);
    const modelName = sae
      ? saeFacts(resolveSaePath(sae.value, ctx.refs.configDir, env).folder, ctx.refs.saeFormat).info?.modelName
      : undefined;
    for (const m of labelMismatches(set, l.layer, modelName)) report(ctx, 'labels-mismatch', l.segments, m, undefined, 'warning');
  }
}

function labelFacts(file: string): { set?: LabelSet; error?: string } {
  const files = fs.statSync(file).isDirectory() ? [file, path.join(file, 'explanations')] : [file];
  return cachedOnFiles('labels', files, () => {
    try {
      return { set: readLabelSet(file) };
    } catch (e) {
      const err = e as SaeDiffError;
      return {
        error:
          `${err.message}${err.location?.line ? ` (line ${err.location.line} of ${err.location.file})` : ''}.${err.hint ? ` ${err.hint}` : ''}`.replace(
            /\.\./g,
            '.',
          ),
      };
    }
  });
}

/** The chat template the run renders with, when it is known: the first owner's that has one. */
function runTemplate(refs: ConfigRefs, models: { ref: ModelRef; facts: ModelFacts }[]): ModelFacts['chatTemplate'] {
  return templateOwners(refs, models).find((o) => o?.chatTemplate)?.chatTemplate;
}

/**
 * The first checked chat record the template refuses (its own raise_exception, as Gemma's refuses a system turn), or
 * the template's parse error: the run would stop on it.
 */
function templateProblem(
  template: NonNullable<ModelFacts['chatTemplate']>,
  records: { index: number; messages: ChatMessage[] }[],
  file: string,
): string | undefined {
  try {
    const compiled = compileTemplate(template.source, template.file);
    for (const r of records)
      renderPrompt({ messages: r.messages }, compiled, template.specialTokens, file, { templateFile: template.file, index: r.index });
  } catch (e) {
    return `${(e as Error).message}.`;
  }
  return undefined;
}

function checkDataset(ctx: CheckContext, hasChatTemplate: boolean | undefined, template: ModelFacts['chatTemplate'], env?: HubEnv): void {
  const ds = ctx.refs.dataset;
  if (!ds) return;
  const target = datasetTarget(ds.value, ctx.refs.configDir);
  let file = target.path;
  ctx.referenced.add(file);
  // a folder or a cached hub dataset: the split's files as the run finds them; the first is checked
  if (target.hubId || fs.statSync(target.path, { throwIfNoEntry: false })?.isDirectory()) {
    try {
      const source = resolveDataset({ ...target, split: ds.split, ...(ds.subset ? { subset: ds.subset } : {}) }, env);
      file = source.files[0];
      ctx.referenced.add(file);
    } catch (e) {
      const hint = e instanceof SaeDiffError && e.hint ? ` ${e.hint}` : '';
      report(ctx, target.hubId ? 'dataset-not-found' : 'dataset-invalid', ds.segments, `${(e as Error).message}.${hint}`);
      return;
    }
  }
  const facts = datasetFacts(file, ds.field);
  if (!facts.exists) report(ctx, 'dataset-not-found', ds.segments, `Prompts file not found: ${file}.`);
  else if (facts.error)
    report(ctx, 'dataset-invalid', ds.segments, `${facts.error}.`, facts.errorLine ? { line: facts.errorLine } : undefined);
  else if (facts.warning) report(ctx, 'dataset-unchecked', ds.segments, `${facts.warning}.`, undefined, 'warning');
  else if (facts.hasChat && hasChatTemplate === false) {
    const where =
      ctx.refs.chatTemplateFrom === 'auto' ? "neither the base's nor a fine-tune's" : `the ${ctx.refs.chatTemplateFrom} model's`;
    report(
      ctx,
      'dataset-no-chat-template',
      ds.segments,
      `The dataset has chat messages, but ${where} tokenizer has a chat template: the run cannot render them. Add chat_template.jinja (or a chat_template in tokenizer_config.json), or give prompts as text.`,
    );
  } else if (facts.chatRecords && template) {
    const problem = templateProblem(template, facts.chatRecords, file);
    if (problem) report(ctx, 'dataset-chat-template-refuses', ds.segments, problem);
  }
}

/** output.save_path must not be one of the run's inputs: the report would overwrite it. */
function checkSavePath(ctx: CheckContext): void {
  const sp = ctx.refs.savePath;
  if (!sp) return;
  const out = path.resolve(ctx.refs.configDir, sp.value);
  const inputs: [string, string][] = [[ctx.refs.configPath, 'the config file itself']];
  if (ctx.refs.dataset) inputs.push([path.resolve(ctx.refs.configDir, ctx.refs.dataset.value), 'the dataset (dataset.path)']);
  for (const l of ctx.refs.labels) inputs.push([path.resolve(ctx.refs.configDir, l.value), 'a labels file (sae.labels)']);
  const hit = inputs.find(([f]) => sameFile(out, f));
  if (hit)
    report(ctx, 'save-path-is-input', sp.segments, `output.save_path is ${hit[1]}: the report would overwrite it. Choose another file.`);
  else {
    try {
      const st = fs.lstatSync(out);
      if (!st.isFile())
        report(
          ctx,
          'save-path-not-file',
          sp.segments,
          `output.save_path ${out} exists and is not a regular file (a folder, link, device or FIFO): the run refuses to replace it.`,
        );
    } catch {
      /* missing: the run creates it */
    }
  }
}
