import * as fs from 'fs';
import * as path from 'path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, Scalar } from 'yaml';
import { HubEnv, resolveModelPath } from '../model/hfCache';
import { datasetTarget } from '../config/modelId';
import { isParquet } from '../data/dataset';
import { datasetChoices, resolveDataset } from '../data/datasetSource';
import { completionContext, CompletionContext } from './completionContext';
import { configRefs, ConfigRefs, Segments } from '../config/configRefs';
import { nodeAt, Position, Range } from '../config/yamlNodes';
import { modelFacts, promptFieldCandidates } from './facts';
import { suggestSaeTemplate } from './saeTemplate';
import { allowedKeys, keyDoc, keyDocMarkdown, requiredKeys, schemaAtPath } from './schemaLookup';

export interface ConfigCompletion {
  label: string;
  kind: 'key' | 'enum' | 'boolean' | 'layer' | 'folder' | 'file' | 'template';
  insertText: string;
  /** The text the completion replaces (the partial word typed so far). */
  range: Range;
  detail?: string;
  documentation?: string;
  /** Whether choosing it should immediately ask for more (a folder: its contents). */
  retrigger?: boolean;
}

/** Completions at a position: keys not yet present, enum values, layer indices of the model, paths. */
export function completionsAt(text: string, configPath: string, position: Position, options: { env?: HubEnv } = {}): ConfigCompletion[] {
  const ctx = completionContext(text, position);
  const range: Range = { start: { line: position.line, character: ctx.typedStart }, end: position };
  const doc = parseDocument(text, { lineCounter: new LineCounter(), uniqueKeys: false });
  const refs = configRefs(doc, configPath);
  if (ctx.kind === 'key') return keyCompletions(ctx, presentKeys(doc, ctx), range);
  return [
    ...enumCompletions(ctx, range),
    ...layerCompletions(ctx, refs, range, options.env),
    ...pathCompletions(ctx, refs, range),
    ...datasetCompletions(ctx, refs, range, options.env),
  ];
}

function presentKeys(doc: ReturnType<typeof parseDocument>, ctx: CompletionContext): Set<string> {
  const keys = new Set(ctx.flowKeys);
  const node = nodeAt(doc, ctx.segments);
  if (isMap(node)) for (const p of node.items) if (isPair(p) && isScalar(p.key)) keys.add(String((p.key as Scalar).value));
  return keys;
}

function keyCompletions(ctx: CompletionContext, present: Set<string>, range: Range): ConfigCompletion[] {
  const required = new Set(requiredKeys(ctx.segments));
  return allowedKeys(ctx.segments)
    .filter((k) => !present.has(k) || k === ctx.typed)
    .map((k) => {
      const doc = keyDoc([...ctx.segments, k]);
      const isObject = schemaAtPath([...ctx.segments, k])?.type === 'object';
      return {
        label: k,
        kind: 'key' as const,
        range,
        insertText: isObject ? `${k}:` : `${k}: `,
        detail: `${doc?.type ?? ''}${required.has(k) ? ' (required)' : ''}`,
        documentation: keyDocMarkdown([...ctx.segments, k]),
      };
    });
}

function enumCompletions(ctx: CompletionContext, range: Range): ConfigCompletion[] {
  const doc = keyDoc(ctx.segments);
  if (doc?.enum)
    return doc.enum.map((v) => ({
      label: String(v),
      kind: 'enum' as const,
      insertText: String(v),
      range,
      detail: v === doc.default ? 'default' : undefined,
    }));
  if (doc?.type === 'boolean')
    return ['true', 'false'].map((v) => ({
      label: v,
      kind: 'boolean' as const,
      insertText: v,
      range,
      detail: String(doc.default) === v ? 'default' : undefined,
    }));
  return [];
}

const isTargetIndices = (segs: Segments) => segs.some((s) => s === 'target_indices');

function layerCompletions(ctx: CompletionContext, refs: ConfigRefs, range: Range, env?: HubEnv): ConfigCompletion[] {
  if (!isTargetIndices(ctx.segments)) return [];
  const base = refs.models.find((m) => m.role === 'base');
  const facts = base && modelFacts(resolveModelPath(base.value, refs.configDir, env).folder, base.onnxFile);
  const count = facts?.layerCount;
  if (count === undefined) return [];
  const all = Array.from({ length: count }, (_, l) => l);
  const detail = `layer of ${count} (hidden size ${facts?.hiddenSize ?? '?'})`;
  if (ctx.segments[ctx.segments.length - 1] === 'target_indices') {
    return [{ label: `[${all.join(', ')}]`, kind: 'layer', insertText: `[${all.join(', ')}]`, range, detail: `all ${count} layers` }];
  }
  const used = new Set([...refs.targets.map((t) => t.layer), ...ctx.flowItems.map(Number)]);
  return all.filter((l) => !used.has(l)).map((l) => ({ label: String(l), kind: 'layer' as const, insertText: String(l), range, detail }));
}

/**
 * dataset.split and dataset.subset: what the folder or cached hub dataset in dataset.path offers (datasetSource.ts);
 * dataset.field: the keys of its first records (or Parquet columns) that hold a string or a list.
 */
function datasetCompletions(ctx: CompletionContext, refs: ConfigRefs, range: Range, env?: HubEnv): ConfigCompletion[] {
  const key = ctx.segments[ctx.segments.length - 1];
  if (ctx.segments[ctx.segments.length - 2] !== 'dataset' || !refs.dataset) return [];
  const target = datasetTarget(refs.dataset.value, refs.configDir);
  if (key === 'field') return fieldCompletions(refs.dataset, target, range, env);
  if (key !== 'split' && key !== 'subset') return [];
  const subset = refs.dataset.subset;
  const choices = datasetChoices({ ...target, ...(subset ? { subset } : {}) }, env);
  const where = target.hubId ?? refs.dataset.value;
  return (key === 'split' ? choices.splits : choices.subsets).map((v) => ({
    label: v,
    kind: 'enum' as const,
    insertText: v,
    range,
    detail: `${key} of ${where}`,
  }));
}

function fieldCompletions(
  ds: NonNullable<ConfigRefs['dataset']>,
  target: ReturnType<typeof datasetTarget>,
  range: Range,
  env?: HubEnv,
): ConfigCompletion[] {
  let file = target.path;
  try {
    // a folder or a cached hub dataset: its split's first file, as the run reads it first
    if (target.hubId || isDirectory(target.path))
      file = resolveDataset({ ...target, split: ds.split, ...(ds.subset ? { subset: ds.subset } : {}) }, env).files[0];
  } catch {
    return [];
  }
  // strings first (text prompts), then lists (chat messages); the keys most records have first
  return promptFieldCandidates(file)
    .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'text' ? -1 : 1) || b.records - a.records)
    .map((c) => ({
      label: c.name,
      kind: 'enum' as const,
      insertText: c.name,
      range,
      detail: `${c.kind === 'text' ? 'strings' : 'lists (chat messages)'}${isParquet(file) ? ' (a Parquet column)' : ` in ${c.records} of the first ${c.of} records`}`,
    }));
}

/** Keys whose string value is a path relative to the config, and whether files (not only folders) fit. */
const PATH_KEYS: Record<string, 'folder' | 'file' | 'any'> = {
  base: 'folder',
  sft: 'folder',
  reference: 'folder',
  path: 'any',
  labels: 'file',
  save_path: 'file',
};

function pathCompletions(ctx: CompletionContext, refs: ConfigRefs, range: Range): ConfigCompletion[] {
  const key = [...ctx.segments].reverse().find((s): s is string => typeof s === 'string' && !/^\d+$/.test(s));
  if (!key || !(key in PATH_KEYS)) return [];
  let want = PATH_KEYS[key];
  if (key === 'path') want = ctx.segments.includes('dataset') ? 'file' : 'folder';
  const slash = Math.max(ctx.typed.lastIndexOf('/'), ctx.typed.lastIndexOf('\\'));
  const dirPart = ctx.typed.slice(0, slash + 1);
  const namePart = ctx.typed.slice(slash + 1);
  const dir = path.resolve(refs.configDir, dirPart || '.');
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const nameRange: Range = { start: { line: range.start.line, character: range.start.character + slash + 1 }, end: range.end };
  const out: ConfigCompletion[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') && !namePart.startsWith('.')) continue;
    const isDir = e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name)));
    if (!isDir && want === 'folder') continue;
    out.push(
      isDir
        ? { label: `${e.name}/`, kind: 'folder', insertText: `${e.name}/`, range: nameRange, retrigger: true }
        : { label: e.name, kind: 'file', insertText: e.name, range: nameRange },
    );
  }
  if (!ctx.typed || /^\.\.?$/.test(namePart))
    out.push({ label: '../', kind: 'folder', insertText: '../', range: nameRange, retrigger: true });
  if (ctx.segments.includes('sae') && key === 'path') out.push(...templateCompletions(dirPart, dir, entries, refs, range, ctx.quoted));
  return out;
}

/** `{layer}` templates that match the folders in the typed directory for every target layer. */
function templateCompletions(
  dirPart: string,
  dir: string,
  entries: fs.Dirent[],
  refs: ConfigRefs,
  range: Range,
  quoted: boolean,
): ConfigCompletion[] {
  const layers = refs.targets.map((t) => t.layer);
  const templates = new Set<string>();
  for (const e of entries) {
    if (!/\d/.test(e.name) || !isDirectory(path.join(dir, e.name))) continue;
    const t = suggestSaeTemplate(dirPart + e.name, refs.configDir, layers.length ? layers : [0]);
    if (t) templates.add(t);
  }
  // `{` cannot start or sit inside a plain scalar in a flow mapping: quote the template unless a quote is open.
  return [...templates].map((t) => ({
    label: t,
    kind: 'template' as const,
    insertText: quoted ? t : JSON.stringify(t),
    range,
    detail: 'one SAE folder per target layer',
  }));
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
