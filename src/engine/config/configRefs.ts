import * as fs from 'fs';
import * as path from 'path';
import type { Document } from 'yaml';
import { hubCacheDir, HubEnv, looksLikeHubModelId, resolveHubModelFolder } from '../model/hfCache';
import type { HookPoint, SaeFormat } from './types';

/**
 * The file references of a config, read defensively from the YAML document (which may not be
 * schema-valid while the user types), each with the YAML path of the scalar that names it.
 */

export type Segments = (string | number)[];
export const PIPELINE = 'diagnostic_pipeline';

export interface ModelRef {
  role: 'base' | 'sft' | 'reference';
  /** Dotted name for messages, e.g. `models.sft[1]`. */
  label: string;
  value: string;
  onnxFile?: string;
  /** YAML path of the path scalar. */
  segments: Segments;
}

export interface SaeRef { layer: number; value: string; segments: Segments; fromTemplate: boolean }

export interface LayerRef { layer: number; index: number; segments: Segments }

export interface ConfigRefs {
  configDir: string;
  models: ModelRef[];
  targets: LayerRef[];
  /** How sae.path is written, when it is. */
  saePathKind?: 'single' | 'template' | 'map';
  saes: SaeRef[];
  /** Target layers a sae.path map has no entry for. */
  saeMissingLayers: number[];
  saeFormat: SaeFormat;
  checkHookLayer: boolean;
  /** layers.hook_point (resid_post when not written), and whether the config writes it. */
  hookPoint: HookPoint;
  hookPointWritten: boolean;
  labels: SaeRef[];
  dataset?: { value: string; segments: Segments };
  /** output.save_path, when written. */
  savePath?: { value: string; segments: Segments };
  chatTemplateFrom: 'auto' | 'base' | 'sft';
  configPath: string;
}

const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPathString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

export function configRefs(doc: Document, configPath: string): ConfigRefs {
  const data = safeJs(doc);
  const p = isObj(data) && isObj(data[PIPELINE]) ? data[PIPELINE] : {};
  const refs: ConfigRefs = {
    configDir: path.dirname(path.resolve(configPath)),
    models: [], targets: [], saes: [], saeMissingLayers: [], labels: [],
    saeFormat: ['auto', 'saelens', 'sparsify', 'gemmascope'].includes(p.sae?.format) ? p.sae.format : 'auto',
    checkHookLayer: p.sae?.check_hook_layer !== false,
    hookPoint: typeof p.layers?.hook_point === 'string' ? p.layers.hook_point : 'resid_post',
    hookPointWritten: typeof p.layers?.hook_point === 'string',
    chatTemplateFrom: ['base', 'sft'].includes(p.dataset?.chat_template_from) ? p.dataset.chat_template_from : 'auto',
    configPath: path.resolve(configPath),
  };
  const models = isObj(p.models) ? p.models : {};
  const addModel = (role: ModelRef['role'], label: string, v: unknown, segs: Segments) => {
    if (isPathString(v)) refs.models.push({ role, label, value: v, segments: segs });
    else if (isObj(v) && isPathString(v.path)) {
      refs.models.push({ role, label, value: v.path, onnxFile: isPathString(v.onnx_file) ? v.onnx_file : undefined, segments: [...segs, 'path'] });
    }
  };
  const modelsSegs = [PIPELINE, 'models'];
  addModel('base', 'models.base', models.base, [...modelsSegs, 'base']);
  if (Array.isArray(models.sft)) models.sft.forEach((m: unknown, i: number) => addModel('sft', `models.sft[${i}]`, m, [...modelsSegs, 'sft', i]));
  else addModel('sft', 'models.sft', models.sft, [...modelsSegs, 'sft']);
  addModel('reference', 'models.reference', models.reference, [...modelsSegs, 'reference']);

  const indices = p.layers?.target_indices;
  if (Array.isArray(indices)) {
    indices.forEach((l: unknown, i: number) => {
      if (Number.isInteger(l) && (l as number) >= 0) refs.targets.push({ layer: l as number, index: i, segments: [PIPELINE, 'layers', 'target_indices', i] });
    });
  }
  const layers = [...new Set(refs.targets.map((t) => t.layer))];

  const perLayer = (value: unknown, key: string, out: SaeRef[], missing?: number[]): ConfigRefs['saePathKind'] => {
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
      return 'map';
    }
    return undefined;
  };
  refs.saePathKind = perLayer(p.sae?.path, 'path', refs.saes, refs.saeMissingLayers);
  perLayer(p.sae?.labels, 'labels', refs.labels);
  if (isPathString(p.dataset?.path)) refs.dataset = { value: p.dataset.path, segments: [PIPELINE, 'dataset', 'path'] };
  if (isPathString(p.output?.save_path)) refs.savePath = { value: p.output.save_path, segments: [PIPELINE, 'output', 'save_path'] };
  return refs;
}

/** Where a model reference points: a folder (absolute), or a hub id looked up in the local cache. */
export interface ResolvedModelPath { folder: string; hubId?: string; fromHubCache: boolean; hubCacheDir?: string }

export function resolveModelPath(value: string, configDir: string, env?: HubEnv): ResolvedModelPath {
  const folder = path.resolve(configDir, value);
  if (path.isAbsolute(value) || value.startsWith('.') || !looksLikeHubModelId(value) || fs.existsSync(folder)) return { folder, fromHubCache: false };
  const hub = resolveHubModelFolder(value, env);
  if (hub) return { folder: hub, hubId: value, fromHubCache: true };
  return { folder, hubId: value, fromHubCache: false, hubCacheDir: hubCacheDir(env) };
}

function safeJs(doc: Document): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
}
