import * as path from 'path';
import { SaeDiffError, SourceLocation } from '../core/errors';
import { READ_CAPS, readTextBounded } from '../io/boundedRead';
import { configStem } from './configFileRule';
import { configRefs, ModelRef, SaeRef, Segments } from './configRefs';
import { parseAndCheckConfigText, ParsedConfigText } from './diagnostics';
import { keyRange } from './yamlNodes';
import { datasetTarget, modelTarget } from './modelId';
import { schemaDefault } from './schema';
import { DEFAULT_METRICS, DEFAULT_RUNTIME, MetricsConfig, ModelSpec, ResolvedConfig, RuntimeConfig } from './types';
import type { RunConfig } from '../../shared/reportTypes';

/**
 * How the loader finds a Hugging Face id's ONNX export in the local cache: model/hfCache.ts's
 * resolveHubModelFolder, passed in by model/loadRunConfig.ts so that this layer needs no model code.
 * Without it an id stays the (missing) folder it also names, and loading the model says how to export it.
 */
export interface LoadOptions {
  hubModelFolder?: (id: string) => string | undefined;
  /** Likewise an SAE value that names a path inside a cached hub repo (model/hfCache.ts's resolveSaePath). */
  saeFolder?: (value: string, configDir: string) => string;
}

export const REPORT_EXTENSION = '.sae-report.json';

/** Reads, schema-checks and resolves a config file. Throws SaeDiffError naming file:line:col and key. */
export function loadConfigFile(configPath: string, options: LoadOptions = {}): ResolvedConfig {
  const abs = path.resolve(configPath);
  let text: string;
  try {
    text = readTextBounded(abs, READ_CAPS.yaml);
  } catch (e) {
    throw new SaeDiffError(`Cannot read the config file: ${(e as Error).message}`, { location: { file: abs }, hint: 'Check the path.' });
  }
  return loadConfigText(text, abs, options);
}

export function loadConfigText(text: string, configPath: string, options: LoadOptions = {}): ResolvedConfig {
  const parsed = parseAndCheckConfigText(text);
  const firstError = parsed.diagnostics.find((d) => d.severity === 'error');
  if (firstError) {
    throw new SaeDiffError(firstError.message, {
      location: {
        file: configPath,
        line: firstError.range.start.line + 1,
        column: firstError.range.start.character + 1,
        key: firstError.keyPath || undefined,
      },
    });
  }
  return resolveConfig(parsed, configPath, options);
}

/** Turns schema-valid YAML into the resolved config: read by configRefs, schema defaults applied, paths made absolute. */
export function resolveConfig(parsed: ParsedConfigText, configPath: string, options: LoadOptions = {}): ResolvedConfig {
  const configDir = path.dirname(configPath);
  const refs = configRefs(parsed.doc, configPath);
  const p = refs.pipeline;
  const locate = (keyPath: string): SourceLocation => {
    const segs = ['diagnostic_pipeline', ...keyPath.split('.').filter(Boolean)].map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    // a key that is not written (a default) is located at its nearest written parent
    for (let n = segs.length; n >= 0; n--) {
      const r = keyRange(parsed.doc, segs.slice(0, n), parsed.lineCounter);
      if (n === 0 || r.start.line > 0 || r.start.character > 0 || r.end.line > 0 || r.end.character > 1) {
        return { file: configPath, line: r.start.line + 1, column: r.start.character + 1, key: keyPath };
      }
    }
    return { file: configPath, key: keyPath };
  };
  const abs = (rel: string) => path.resolve(configDir, rel);

  const modelSpec = (ref: ModelRef): ModelSpec => {
    const target = modelTarget(ref.value, configDir);
    // a Hugging Face id resolves to its ONNX export in the local cache (never downloaded)
    const resolved = (target.hubId && options.hubModelFolder?.(target.hubId)) || target.folder;
    return {
      name: ref.name ?? path.basename(resolved),
      path: resolved,
      onnxFile: ref.onnxFile,
      key: modelKey(ref.segments),
      ...(target.hubId ? { hubId: target.hubId } : {}),
    };
  };
  const base = modelSpec(refs.models.find((m) => m.role === 'base')!);
  const sfts = refs.models.filter((m) => m.role === 'sft').map(modelSpec);
  const names = new Set<string>();
  sfts.forEach((s: ModelSpec) => {
    if (names.has(s.name))
      throw new SaeDiffError(`Two fine-tunes are both named '${s.name}'`, {
        location: locate(s.key),
        hint: 'Give each entry of models.sft a distinct name.',
      });
    names.add(s.name);
  });
  const referenceRef = refs.models.find((m) => m.role === 'reference');
  const reference = referenceRef ? modelSpec(referenceRef) : undefined;

  const targets = refs.targets.map((t) => t.layer);
  if (refs.saeMissingLayers.length > 0) {
    const l = refs.saeMissingLayers[0];
    throw new SaeDiffError(`No entry for target layer ${l} in sae.path`, {
      location: locate('sae.path'),
      hint: `Add "${l}: <folder>" or use a template with {layer}.`,
    });
  }
  // a map keeps every layer it names, in layer order, as the run has always recorded them
  const perLayer = (own: SaeRef[], other: SaeRef[], value: unknown, resolve = abs): Map<number, string> => {
    const entries = typeof value === 'string' ? own : [...own, ...other].sort((a, b) => a.layer - b.layer);
    return new Map(entries.map((r) => [r.layer, resolve(r.value)]));
  };
  const saeFolder = (value: string) => options.saeFolder?.(value, configDir) ?? abs(value);

  const metrics: MetricsConfig = { ...DEFAULT_METRICS, ...(p.metrics ?? {}) };
  const runtime: RuntimeConfig = { ...DEFAULT_RUNTIME, ...(p.runtime ?? {}) };
  const savePath = refs.savePath
    ? abs(refs.savePath.value)
    : path.join(configDir, configStem(path.basename(configPath)) + REPORT_EXTENSION);

  return {
    configPath,
    configDir,
    models: { base, sfts, reference },
    sae: {
      paths: perLayer(refs.saes, refs.otherLayers.saes, p.sae.path, saeFolder),
      k: p.sae.k ?? schemaDefault<number>('sae.k'),
      format: refs.saeFormat,
      checkHookLayer: refs.checkHookLayer,
      // labels may cover only some layers: the others show feature ids
      labels: perLayer(refs.labels, refs.otherLayers.labels, p.sae.labels),
      labelsFromTemplate: refs.labelsFromTemplate,
    },
    layers: {
      targets,
      hookPoint: refs.hookPoint,
      hookMode: 'forward',
      tensorNames: new Map(Object.entries(p.layers.tensor_names ?? {}).map(([k, v]) => [Number(k), String(v)])),
    },
    dataset: {
      ...datasetTarget(refs.dataset!.value, configDir),
      split: refs.dataset!.split,
      ...(refs.dataset!.subset !== undefined ? { subset: refs.dataset!.subset } : {}),
      ...(refs.dataset!.field !== undefined ? { field: refs.dataset!.field } : {}),
      maxSamples: p.dataset.max_samples,
      excludeBos: p.dataset.exclude_bos ?? schemaDefault<boolean>('dataset.exclude_bos'),
      chatTemplateFrom: refs.chatTemplateFrom,
      prependBos: refs.prependBos,
    },
    metrics,
    runtime,
    runtimeKeysSet: new Set(Object.keys(p.runtime ?? {})),
    output: { format: 'json', savePath },
    locate,
  };
}

/** The loader's key of a model (`models.sft.1`), from the YAML path of its path scalar. */
function modelKey(segments: Segments): string {
  const segs = segments.slice(1);
  return (segs[segs.length - 1] === 'path' ? segs.slice(0, -1) : segs).join('.');
}

/** The resolved config as plain JSON (paths absolute), for the report's run.config. */
export function configToJson(c: ResolvedConfig): RunConfig {
  const m = (spec: ModelSpec) => ({ name: spec.name, path: spec.path, ...(spec.onnxFile ? { onnx_file: spec.onnxFile } : {}) });
  const obj = (map: Map<number, string>) => Object.fromEntries([...map.entries()].map(([k, v]) => [String(k), v]));
  return {
    config_path: c.configPath,
    models: { base: m(c.models.base), sft: c.models.sfts.map(m), ...(c.models.reference ? { reference: m(c.models.reference) } : {}) },
    sae: { path: obj(c.sae.paths), k: c.sae.k, format: c.sae.format, check_hook_layer: c.sae.checkHookLayer, labels: obj(c.sae.labels) },
    layers: {
      target_indices: c.layers.targets,
      hook_mode: c.layers.hookMode,
      hook_point: c.layers.hookPoint,
      tensor_names: obj(c.layers.tensorNames),
    },
    dataset: {
      path: c.dataset.hubId ?? c.dataset.path,
      split: c.dataset.split,
      ...(c.dataset.subset !== undefined ? { subset: c.dataset.subset } : {}),
      ...(c.dataset.field !== undefined ? { field: c.dataset.field } : {}),
      max_samples: c.dataset.maxSamples ?? null,
      exclude_bos: c.dataset.excludeBos,
      chat_template_from: c.dataset.chatTemplateFrom,
      prepend_bos: c.dataset.prependBos,
    },
    metrics: { ...c.metrics },
    runtime: { ...c.runtime },
    output: { ...c.output },
  };
}
