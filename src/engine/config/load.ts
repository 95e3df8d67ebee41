import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError, SourceLocation } from '../core/errors';
import { READ_CAPS, readTextBounded } from '../io/boundedRead';
import { looksLikeHubModelId, resolveHubModelFolder } from '../model/hfCache';
import { keyRange, parseAndCheckConfigText, ParsedConfigText } from './diagnostics';
import { DEFAULT_METRICS, DEFAULT_RUNTIME, MetricsConfig, ModelSpec, ResolvedConfig, RuntimeConfig } from './types';
import type { RunConfig } from '../../shared/reportTypes';

export const REPORT_EXTENSION = '.sae-report.json';

/** Reads, schema-checks and resolves a config file. Throws SaeDiffError naming file:line:col and key. */
export function loadConfigFile(configPath: string): ResolvedConfig {
  const abs = path.resolve(configPath);
  let text: string;
  try {
    text = readTextBounded(abs, READ_CAPS.yaml);
  } catch (e) {
    throw new SaeDiffError(`Cannot read the config file: ${(e as Error).message}`, { location: { file: abs }, hint: 'Check the path.' });
  }
  return loadConfigText(text, abs);
}

export function loadConfigText(text: string, configPath: string): ResolvedConfig {
  const parsed = parseAndCheckConfigText(text);
  const firstError = parsed.diagnostics.find((d) => d.severity === 'error');
  if (firstError) {
    throw new SaeDiffError(firstError.message, {
      location: { file: configPath, line: firstError.range.start.line + 1, column: firstError.range.start.character + 1, key: firstError.keyPath || undefined },
    });
  }
  return resolveConfig(parsed, configPath);
}

/** Turns schema-valid YAML into the resolved config: defaults applied, paths made absolute. */
export function resolveConfig(parsed: ParsedConfigText, configPath: string): ResolvedConfig {
  const configDir = path.dirname(configPath);
  const p = (parsed.doc.toJS() as any).diagnostic_pipeline;
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
  const abs = (rel: string) => (path.isAbsolute(rel) ? rel : path.resolve(configDir, rel));

  const modelSpec = (v: any, key: string): ModelSpec => {
    const entry = typeof v === 'string' ? { path: v } : v;
    let resolved = abs(entry.path);
    // a Hugging Face id resolves to its ONNX export in the local cache (never downloaded)
    if (!fs.existsSync(resolved) && looksLikeHubModelId(entry.path)) resolved = resolveHubModelFolder(entry.path) ?? resolved;
    return { name: entry.name ?? path.basename(resolved), path: resolved, onnxFile: entry.onnx_file, key };
  };
  const base = modelSpec(p.models.base, 'models.base');
  const sfts = Array.isArray(p.models.sft)
    ? p.models.sft.map((m: any, i: number) => modelSpec(m, `models.sft.${i}`))
    : [modelSpec(p.models.sft, 'models.sft')];
  const names = new Set<string>();
  sfts.forEach((s: ModelSpec) => {
    if (names.has(s.name)) throw new SaeDiffError(`Two fine-tunes are both named '${s.name}'`, { location: locate(s.key), hint: 'Give each entry of models.sft a distinct name.' });
    names.add(s.name);
  });
  const reference = p.models.reference ? modelSpec(p.models.reference, 'models.reference') : undefined;

  const targets: number[] = p.layers.target_indices;
  const perLayer = (value: any, key: string, everyLayer = true): Map<number, string> => {
    const m = new Map<number, string>();
    if (value === undefined) return m;
    if (typeof value === 'string') {
      for (const l of targets) m.set(l, abs(value.replace(/\{layer\}/g, String(l))));
      return m;
    }
    for (const [k, v] of Object.entries(value)) m.set(Number(k), abs(String(v)));
    for (const l of everyLayer ? targets : []) {
      if (!m.has(l)) throw new SaeDiffError(`No entry for target layer ${l} in ${key}`, { location: locate(key), hint: `Add "${l}: <folder>" or use a template with {layer}.` });
    }
    return m;
  };

  const metrics: MetricsConfig = { ...DEFAULT_METRICS, ...(p.metrics ?? {}) };
  const runtime: RuntimeConfig = { ...DEFAULT_RUNTIME, ...(p.runtime ?? {}) };
  const savePath = p.output?.save_path
    ? abs(p.output.save_path)
    : path.join(configDir, path.basename(configPath).replace(/(\.sae-diff)?\.ya?ml$/i, '') + REPORT_EXTENSION);

  return {
    configPath,
    configDir,
    models: { base, sfts, reference },
    sae: {
      paths: perLayer(p.sae.path, 'sae.path'),
      k: p.sae.k ?? 128,
      format: p.sae.format ?? 'auto',
      checkHookLayer: p.sae.check_hook_layer ?? true,
      // labels may cover only some layers: the others show feature ids
      labels: perLayer(p.sae.labels, 'sae.labels', false),
      labelsFromTemplate: typeof p.sae.labels === 'string' && p.sae.labels.includes('{layer}'),
    },
    layers: {
      targets,
      hookPoint: p.layers.hook_point ?? 'resid_post',
      hookMode: 'forward',
      tensorNames: new Map(Object.entries(p.layers.tensor_names ?? {}).map(([k, v]) => [Number(k), String(v)])),
    },
    dataset: {
      path: abs(p.dataset.path),
      maxSamples: p.dataset.max_samples,
      excludeBos: p.dataset.exclude_bos ?? true,
      chatTemplateFrom: p.dataset.chat_template_from ?? 'auto',
    },
    metrics,
    runtime,
    runtimeKeysSet: new Set(Object.keys(p.runtime ?? {})),
    output: { format: 'json', savePath },
    locate,
  };
}

/** The resolved config as plain JSON (paths absolute), for the report's run.config. */
export function configToJson(c: ResolvedConfig): RunConfig {
  const m = (spec: ModelSpec) => ({ name: spec.name, path: spec.path, ...(spec.onnxFile ? { onnx_file: spec.onnxFile } : {}) });
  const obj = (map: Map<number, string>) => Object.fromEntries([...map.entries()].map(([k, v]) => [String(k), v]));
  return {
    config_path: c.configPath,
    models: { base: m(c.models.base), sft: c.models.sfts.map(m), ...(c.models.reference ? { reference: m(c.models.reference) } : {}) },
    sae: { path: obj(c.sae.paths), k: c.sae.k, format: c.sae.format, check_hook_layer: c.sae.checkHookLayer, labels: obj(c.sae.labels) },
    layers: { target_indices: c.layers.targets, hook_mode: c.layers.hookMode, hook_point: c.layers.hookPoint, tensor_names: obj(c.layers.tensorNames) },
    dataset: { path: c.dataset.path, max_samples: c.dataset.maxSamples ?? null, exclude_bos: c.dataset.excludeBos, chat_template_from: c.dataset.chatTemplateFrom },
    metrics: { ...c.metrics },
    runtime: { ...c.runtime },
    output: { ...c.output },
  };
}
