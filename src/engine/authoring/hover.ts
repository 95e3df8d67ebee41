import * as fs from 'fs';
import * as path from 'path';
import { parseDocument, LineCounter } from 'yaml';
import { HubEnv, resolveModelPath, resolveSaePath } from '../model/hfCache';
import { datasetTarget } from '../config/modelId';
import { isParquet } from '../data/dataset';
import { datasetChoices, resolveDataset, type DatasetSource } from '../data/datasetSource';
import { parquetLayout, readParquetMetadata } from '../data/parquetPrompts';
import { configRefs, ConfigRefs, Segments } from '../config/configRefs';
import { Position, Range, toPosition } from '../config/yamlNodes';
import { ModelFacts, modelFacts, saeFacts } from './facts';
import { keyDoc, keyDocMarkdown } from './schemaLookup';
import { locateOffset, offsetOf } from './yamlLocate';

export interface ConfigHover {
  markdown: string;
  range: Range;
}

/** Hover at a position: key documentation; for layer indices, SAE paths and model paths, facts read from the files. */
export function hoverAt(text: string, configPath: string, position: Position, options: { env?: HubEnv } = {}): ConfigHover | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  const loc = locateOffset(doc, offsetOf(lc, text, position));
  if (!loc?.node?.range) return undefined;
  const range = { start: toPosition(lc, loc.node.range[0]), end: toPosition(lc, loc.node.range[1]) };
  const refs = configRefs(doc, configPath);
  const parts = [
    loc.on === 'value' ? valueFacts(loc.segments, refs, options.env) : undefined,
    keyDocMarkdown(docSegments(loc.segments)),
  ].filter(Boolean);
  return parts.length ? { markdown: parts.join('\n\n---\n\n'), range } : undefined;
}

/** Sequence items and map entries (no description of their own) are documented by their parent key. */
function docSegments(segs: Segments): Segments {
  let out = segs;
  while (out.length > 1 && !keyDoc(out)?.description) out = out.slice(0, -1);
  return out;
}

const samePath = (a: Segments, b: Segments) => a.length === b.length && a.every((s, i) => String(s) === String(b[i]));

function valueFacts(segs: Segments, refs: ConfigRefs, env?: HubEnv): string | undefined {
  const base = baseFacts(refs, env);
  const target = refs.targets.find((t) => samePath(t.segments, segs));
  if (target) return layerFacts(target.layer, base);
  const saes = refs.saes.filter((s) => samePath(s.segments, segs));
  if (saes.length)
    return saeTable(
      saes.map((s) => ({ layer: s.layer, folder: resolveSaePath(s.value, refs.configDir, env).folder })),
      refs,
    );
  if (refs.dataset && samePath(refs.dataset.segments, segs)) return datasetHover(refs, env);
  const model = refs.models.find((m) => samePath(m.segments, segs));
  if (model) {
    const resolved = resolveModelPath(model.value, refs.configDir, env);
    const f = modelFacts(resolved.folder, model.onnxFile);
    if (!f.isFolder) return undefined;
    const from = resolved.fromHubCache ? ` (from the Hugging Face cache)` : '';
    if (f.adapterPath)
      return `**${model.label}**: \`${f.folder}\`${from}\n\nPEFT LoRA adapter, run on the base's checkpoint (its config.json${f.tokenizerPath ? '' : ' and tokenizer'} from the base)${f.adapterSummary ? `: ${f.adapterSummary}` : ''}`;
    const weights = f.onnxPath
      ? `ONNX \`${path.relative(f.folder, f.onnxPath)}\``
      : f.checkpointPath
        ? `checkpoint \`${path.basename(f.checkpointPath)}\` (graph built from config.json)`
        : 'no ONNX file or checkpoint';
    return `**${model.label}**: \`${f.folder}\`${from}\n\n${f.modelType ?? 'model'}, ${f.layerCount ?? '?'} layers, hidden size ${f.hiddenSize ?? '?'}, ${weights}`;
  }
  return undefined;
}

/** What dataset.path reads: the file, or a folder's or cached hub dataset's split files (datasetSource.ts). */
function datasetHover(refs: ConfigRefs, env?: HubEnv): string | undefined {
  const { value, split, subset } = refs.dataset!;
  const target = datasetTarget(value, refs.configDir);
  const ref = { ...target, split, ...(subset ? { subset } : {}) };
  let source: DatasetSource;
  try {
    source = resolveDataset(ref, env);
  } catch (e) {
    return `**Dataset**: ${(e as Error).message}`;
  }
  if (source.files.length === 1 && source.files[0] === target.path) {
    // one file: a Parquet file's footer says what it holds
    if (!isParquet(target.path) || !fs.existsSync(target.path)) return undefined;
    try {
      const layout = parquetLayout(readParquetMetadata(target.path), target.path, refs.dataset!.field);
      return `**Dataset**: Parquet, ${layout.rows} rows; prompt columns ${layout.columns.join(', ')} (${layout.chat ? 'chat' : 'text'})`;
    } catch (e) {
      return `**Dataset**: ${(e as Error).message}`;
    }
  }
  const shown = source.files.slice(0, 5).map((f) => `- \`${f}\``);
  if (source.files.length > 5) shown.push(`- … ${source.files.length - 5} more`);
  const choices = target.hubId || source.files[0] !== target.path ? datasetChoices(ref, env) : undefined;
  const also = choices?.splits.length
    ? `\n\nSplits: ${choices.splits.join(', ')}${choices.subsets.length ? `; subsets: ${choices.subsets.join(', ')}` : ''}`
    : '';
  return `**Dataset**: ${source.label}${target.hubId ? ' (from the Hugging Face cache)' : ''}\n\n${shown.join('\n')}${also}`;
}

function baseFacts(refs: ConfigRefs, env?: HubEnv): ModelFacts | undefined {
  const base = refs.models.find((m) => m.role === 'base');
  if (!base) return undefined;
  const f = modelFacts(resolveModelPath(base.value, refs.configDir, env).folder, base.onnxFile);
  return f.isFolder ? f : undefined;
}

function layerFacts(layer: number, base: ModelFacts | undefined): string {
  if (!base || base.layerCount === undefined) return `**Layer ${layer}** (the base model's config.json could not be read)`;
  const exists =
    layer < base.layerCount ? `layer ${layer} of 0-${base.layerCount - 1}` : `**does not exist** (layers 0-${base.layerCount - 1})`;
  return `**Layer ${layer}**: ${exists}. The base model has ${base.layerCount} layers, hidden size ${base.hiddenSize ?? '?'}.`;
}

function saeTable(rows: { layer: number; folder: string }[], refs: ConfigRefs): string {
  const lines = ['| layer | architecture | width (d_sae) | d_in | hook | dtype |', '|---|---|---|---|---|---|'];
  // TransformerLens's processing (model/centring.ts, model/valueBiasFolding.ts): said once, with what says it
  const centred = new Set<string>();
  const folded = new Set<string>();
  for (const r of rows) {
    const f = saeFacts(r.folder, refs.saeFormat);
    if (f.info) {
      const i = f.info;
      if (i.modelProcessing?.centre) centred.add(i.modelProcessing.source);
      if (i.modelProcessing?.foldValueBiases) folded.add(i.modelProcessing.source);
      lines.push(
        `| ${r.layer} | ${i.architecture}${i.kSae ? ` (k ${i.kSae})` : ''}${i.sourceKind ? ` (${i.sourceKind})` : ''} | ${i.dSae} | ${i.dIn} | ${i.hookName ?? '?'}${i.hookLayer !== undefined ? ` (layer ${i.hookLayer})` : ''} | ${i.dtype} |`,
      );
    } else lines.push(`| ${r.layer} | ${f.error} | | | | |`);
  }
  const centredNote = centred.size
    ? `\n\nTrained on TransformerLens's centred residual stream (${[...centred].join('; ')}): on a LayerNorm model the run centres the activations the same way.`
    : '';
  const foldedNote = folded.size
    ? `\n\nTrained with TransformerLens's value biases folded out of hook_z (${[...folded].join('; ')}): at attn_z the run takes each head's value bias out the same way.`
    : '';
  const note = centredNote + foldedNote;
  return `**SAE** (${rows[0].folder === rows[rows.length - 1].folder ? `\`${rows[0].folder}\`` : `${rows.length} folders, format ${refs.saeFormat}`})\n\n${lines.join('\n')}${note}`;
}
