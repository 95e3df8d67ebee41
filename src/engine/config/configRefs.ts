import * as path from 'path';
import type { Document } from 'yaml';
import { CHAT_TEMPLATE_SOURCES, PREPEND_BOS, SAE_FORMATS_ALLOWED, schemaDefault, type Segments } from './schema';
import type { ChatTemplateFrom, HookPoint, PrependBos, SaeFormat } from './types';

/**
 * The one reader of a config's YAML document: its file references (each with the YAML path of the scalar
 * that names it) and choices, read defensively because the editor's document may not be schema-valid
 * while the user types. The strict loader (load.ts) reads a schema-valid document through it too.
 */

export type { Segments };
export const PIPELINE = 'diagnostic_pipeline';

export interface ModelRef {
  role: 'base' | 'sft' | 'reference';
  /** Dotted name for messages, e.g. `models.sft[1]`. */
  label: string;
  /** The entry's display name, when written. */
  name?: string;
  value: string;
  onnxFile?: string;
  /** YAML path of the path scalar. */
  segments: Segments;
}

export interface SaeRef {
  layer: number;
  value: string;
  segments: Segments;
  fromTemplate: boolean;
}

export interface LayerRef {
  layer: number;
  index: number;
  segments: Segments;
}

export interface ConfigRefs {
  configDir: string;
  models: ModelRef[];
  targets: LayerRef[];
  /** How sae.path is written, when it is. */
  saePathKind?: 'single' | 'template' | 'map';
  saes: SaeRef[];
  /** Target layers a sae.path map has no entry for. */
  saeMissingLayers: number[];
  /** Entries of a sae.path / sae.labels map for layers that are not targets: no check needs them, but a run records them. */
  otherLayers: { saes: SaeRef[]; labels: SaeRef[] };
  saeFormat: SaeFormat;
  checkHookLayer: boolean;
  /** layers.hook_point (resid_post when not written), and whether the config writes it. */
  hookPoint: HookPoint;
  hookPointWritten: boolean;
  labels: SaeRef[];
  /** sae.labels is a {layer} template. */
  labelsFromTemplate: boolean;
  /** dataset.path, and the split and subset a folder or hub id is read for (the schema's default split when not written). */
  dataset?: { value: string; segments: Segments; split: string; subset?: string; field?: string };
  /** output.save_path, when written. */
  savePath?: { value: string; segments: Segments };
  chatTemplateFrom: ChatTemplateFrom;
  prependBos: PrependBos;
  configPath: string;
  /** The diagnostic_pipeline mapping as plain data ({} when there is none), for the settings that name no file. */
  pipeline: Record<string, any>;
}

const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPathString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

export function configRefs(doc: Document, configPath: string): ConfigRefs {
  const data = safeJs(doc);
  const p = isObj(data) && isObj(data[PIPELINE]) ? data[PIPELINE] : {};
  const refs: ConfigRefs = {
    configDir: path.dirname(path.resolve(configPath)),
    models: [],
    targets: [],
    saes: [],
    saeMissingLayers: [],
    labels: [],
    otherLayers: { saes: [], labels: [] },
    saeFormat: oneOf(SAE_FORMATS_ALLOWED, p.sae?.format, 'sae.format'),
    checkHookLayer: typeof p.sae?.check_hook_layer === 'boolean' ? p.sae.check_hook_layer : schemaDefault<boolean>('sae.check_hook_layer'),
    // kept as written even when the schema does not allow it: the schema check names it, the SAE check compares it
    hookPoint: typeof p.layers?.hook_point === 'string' ? p.layers.hook_point : schemaDefault<HookPoint>('layers.hook_point'),
    hookPointWritten: typeof p.layers?.hook_point === 'string',
    labelsFromTemplate: typeof p.sae?.labels === 'string' && p.sae.labels.includes('{layer}'),
    chatTemplateFrom: oneOf(CHAT_TEMPLATE_SOURCES, p.dataset?.chat_template_from, 'dataset.chat_template_from'),
    prependBos: oneOf(PREPEND_BOS, p.dataset?.prepend_bos, 'dataset.prepend_bos'),
    configPath: path.resolve(configPath),
    pipeline: p,
  };
  const models = isObj(p.models) ? p.models : {};
  const addModel = (role: ModelRef['role'], label: string, v: unknown, segs: Segments) => {
    if (isPathString(v)) refs.models.push({ role, label, value: v, segments: segs });
    else if (isObj(v) && isPathString(v.path)) {
      const name = isPathString(v.name) ? v.name : undefined;
      refs.models.push({
        role,
        label,
        ...(name ? { name } : {}),
        value: v.path,
        onnxFile: isPathString(v.onnx_file) ? v.onnx_file : undefined,
        segments: [...segs, 'path'],
      });
    }
  };
  const modelsSegs = [PIPELINE, 'models'];
  addModel('base', 'models.base', models.base, [...modelsSegs, 'base']);
  if (Array.isArray(models.sft))
    models.sft.forEach((m: unknown, i: number) => addModel('sft', `models.sft[${i}]`, m, [...modelsSegs, 'sft', i]));
  else addModel('sft', 'models.sft', models.sft, [...modelsSegs, 'sft']);
  addModel('reference', 'models.reference', models.reference, [...modelsSegs, 'reference']);

  const indices = p.layers?.target_indices;
  if (Array.isArray(indices)) {
    indices.forEach((l: unknown, i: number) => {
      if (Number.isInteger(l) && (l as number) >= 0)
        refs.targets.push({ layer: l as number, index: i, segments: [PIPELINE, 'layers', 'target_indices', i] });
    });
  }
  const layers = [...new Set(refs.targets.map((t) => t.layer))];

  const perLayer = (value: unknown, key: string, out: SaeRef[], other: SaeRef[], missing?: number[]): ConfigRefs['saePathKind'] => {
    const segs = [PIPELINE, 'sae', key];
    if (isPathString(value)) {
      const fromTemplate = value.includes('{layer}');
      for (const l of layers) out.push({ layer: l, value: value.replace(/\{layer\}/g, String(l)), segments: segs, fromTemplate });
      return fromTemplate ? 'template' : 'single';
    }
    if (isObj(value)) {
      for (const l of layers) {
        const v = value[String(l)];
        if (isPathString(v)) out.push({ layer: l, value: v, segments: [...segs, String(l)], fromTemplate: false });
        else missing?.push(l);
      }
      for (const [k, v] of Object.entries(value)) {
        if (/^\d+$/.test(k) && !layers.includes(Number(k)) && isPathString(v))
          other.push({ layer: Number(k), value: v, segments: [...segs, k], fromTemplate: false });
      }
      return 'map';
    }
    return undefined;
  };
  refs.saePathKind = perLayer(p.sae?.path, 'path', refs.saes, refs.otherLayers.saes, refs.saeMissingLayers);
  perLayer(p.sae?.labels, 'labels', refs.labels, refs.otherLayers.labels);
  if (isPathString(p.dataset?.path))
    refs.dataset = {
      value: p.dataset.path,
      segments: [PIPELINE, 'dataset', 'path'],
      split: isPathString(p.dataset.split) ? p.dataset.split : schemaDefault<string>('dataset.split'),
      ...(isPathString(p.dataset.subset) ? { subset: p.dataset.subset } : {}),
      ...(isPathString(p.dataset.field) ? { field: p.dataset.field } : {}),
    };
  if (isPathString(p.output?.save_path)) refs.savePath = { value: p.output.save_path, segments: [PIPELINE, 'output', 'save_path'] };
  return refs;
}

/** A written value among the schema's allowed ones, else the schema's default (the schema check names the bad value). */
function oneOf<T extends string>(allowed: readonly T[], value: unknown, key: string): T {
  return allowed.includes(value as T) ? (value as T) : schemaDefault<T>(key);
}

function safeJs(doc: Document): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
}
