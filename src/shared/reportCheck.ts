/**
 * A full check of a report's shape before anything renders it: every field the panel and the exports read
 * has the type they expect, so a malformed or newer file shows one clear message instead of a half-drawn
 * page. Unknown extra fields and unknown flag names pass (a newer engine may write them). No DOM or vscode
 * imports: the extension host and the webview both run it.
 */
import { LAYER_METRIC_FIELDS } from './layerMetrics';

/** The report versions this viewer reads (docs/report-format.md). */
export const READABLE_VERSIONS = [1, 2, 3];

type Json = Record<string, unknown>;

const LAYER_NUMBERS = ['layer', ...LAYER_METRIC_FIELDS];
const FEATURE_NUMBERS = ['id', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'];
const COLUMN_NUMBERS = ['id', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'];

class Problem extends Error {}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** JSON writes NaN and Infinity as null: a metric may be null (shown as such), never a string. */
const isNumberOrNull = (v: unknown) => typeof v === 'number' || v === null;

function object(v: unknown, path: string): Json {
  if (!isObject(v)) throw new Problem(`${path} is ${describe(v)}, expected an object`);
  return v;
}
function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new Problem(`${path} is ${describe(v)}, expected a list`);
  return v;
}
function text(v: unknown, path: string): void {
  if (typeof v !== 'string') throw new Problem(`${path} is ${describe(v)}, expected a string`);
}
function number(v: unknown, path: string): void {
  if (!isNumberOrNull(v)) throw new Problem(`${path} is ${describe(v)}, expected a number`);
}
function optional<T>(v: unknown, check: (v: unknown, path: string) => T, path: string): void {
  if (v !== undefined) check(v, path);
}
function strings(v: unknown, path: string): void {
  list(v, path).forEach((item, i) => text(item, `${path}[${i}]`));
}
function numbers(v: unknown, path: string): void {
  list(v, path).forEach((item, i) => number(item, `${path}[${i}]`));
}
function numberRecord(v: unknown, path: string): void {
  for (const [key, value] of Object.entries(object(v, path))) number(value, `${path}.${key}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v === 'object' ? 'an object' : `a ${typeof v}`}`;
}

/** Undefined when the value is a report this viewer can show; else what is wrong and where. */
export function reportProblem(value: unknown): string | undefined {
  try {
    checkReport(value);
    return undefined;
  } catch (error) {
    if (error instanceof Problem) return error.message;
    throw error;
  }
}

function checkReport(value: unknown): void {
  const report = object(value, 'the report');
  if (report.format !== 'sae-diff-report') throw new Problem(`"format" is ${JSON.stringify(report.format)}, expected "sae-diff-report"`);
  if (!READABLE_VERSIONS.includes(report.version as number)) {
    throw new Problem(
      `unsupported version ${JSON.stringify(report.version)} (this viewer reads versions ${READABLE_VERSIONS.join(', ')}; a newer sae-diff wrote it?)`,
    );
  }
  const run = object(report.run, 'run');
  number(run.tokens, 'run.tokens');
  optional(run.samples, number, 'run.samples');
  optional(run.duration_s, number, 'run.duration_s');
  optional(run.fdr, number, 'run.fdr');
  optional(run.started_at, text, 'run.started_at');
  optional(run.tool_version, text, 'run.tool_version');
  optional(run.execution_provider, text, 'run.execution_provider');
  optional(run.hook_point, text, 'run.hook_point');
  optional(run.config, object, 'run.config');
  optional(run.warnings, strings, 'run.warnings');
  optional(run.parity_warnings, strings, 'run.parity_warnings');
  if (run.bos_prepended !== undefined) {
    const bos = object(run.bos_prepended, 'run.bos_prepended');
    text(bos.token, 'run.bos_prepended.token');
    number(bos.prompts, 'run.bos_prepended.prompts');
  }
  optional(run.timings, numberRecord, 'run.timings');
  const base = object(report.base, 'base');
  text(base.name, 'base.name');
  optional(base.path, text, 'base.path');
  list(report.comparisons, 'comparisons').forEach((c, i) => checkComparison(c, `comparisons[${i}]`));
  if (report.noise_floor !== undefined)
    text(object(object(report.noise_floor, 'noise_floor').reference, 'noise_floor.reference').name, 'noise_floor.reference.name');
  if (report.shard !== undefined) object(report.shard, 'shard');
  if (report.fine_tune_comparison !== undefined) checkFineTuneComparison(report.fine_tune_comparison);
}

function checkComparison(value: unknown, path: string): void {
  const comparison = object(value, path);
  text(object(comparison.sft, `${path}.sft`).name, `${path}.sft.name`);
  list(comparison.layers, `${path}.layers`).forEach((l, i) => checkLayer(l, `${path}.layers[${i}]`));
}

function checkLayer(value: unknown, path: string): void {
  const layer = object(value, path);
  for (const key of LAYER_NUMBERS) number(layer[key], `${path}.${key}`);
  if (typeof layer.layer !== 'number') throw new Problem(`${path}.layer is ${describe(layer.layer)}, expected a layer index`);
  strings(layer.flags, `${path}.flags`);
  list(layer.shifted_features, `${path}.shifted_features`).forEach((f, i) => checkFeature(f, `${path}.shifted_features[${i}]`));
  optional(layer.shifted_count, number, `${path}.shifted_count`);
  optional(layer.category_counts, numberRecord, `${path}.category_counts`);
  optional(layer.significant_counts, numberRecord, `${path}.significant_counts`);
  optional(layer.decomposition, numberRecord, `${path}.decomposition`);
  optional(layer.noise_floor, numberRecord, `${path}.noise_floor`);
  optional(layer.relative_to_floor, numberRecord, `${path}.relative_to_floor`);
  optional(layer.flags_suppressed_by_floor, strings, `${path}.flags_suppressed_by_floor`);
  if (layer.self_check !== undefined) {
    const check = object(layer.self_check, `${path}.self_check`);
    if (typeof check.ok !== 'boolean') throw new Problem(`${path}.self_check.ok is ${describe(check.ok)}, expected true or false`);
    strings(check.messages, `${path}.self_check.messages`);
  }
  if (layer.all_shifted !== undefined) checkColumns(layer.all_shifted, `${path}.all_shifted`);
  if (layer.activation_histograms !== undefined) checkHistograms(layer.activation_histograms, `${path}.activation_histograms`);
}

/** Every row of counts has one entry per bin (edges + 1) and there is one row per feature id. */
function checkHistograms(value: unknown, path: string): void {
  const histograms = object(value, path);
  numbers(histograms.edges, `${path}.edges`);
  numbers(histograms.id, `${path}.id`);
  const bins = (histograms.edges as unknown[]).length + 1,
    length = (histograms.id as unknown[]).length;
  for (const side of ['base', 'sft']) {
    const rows = list(histograms[side], `${path}.${side}`);
    if (rows.length !== length) throw new Problem(`${path}.${side} has ${rows.length} rows, ${path}.id has ${length}`);
    rows.forEach((row, i) => {
      numbers(row, `${path}.${side}[${i}]`);
      if ((row as unknown[]).length !== bins)
        throw new Problem(`${path}.${side}[${i}] has ${(row as unknown[]).length} counts, not ${bins} (one per bin)`);
    });
  }
}

function checkFeature(value: unknown, path: string): void {
  const feature = object(value, path);
  for (const key of FEATURE_NUMBERS) number(feature[key], `${path}.${key}`);
  text(feature.category, `${path}.category`);
  optional(feature.label, text, `${path}.label`);
  optional(feature.q_value, number, `${path}.q_value`);
  optional(feature.p_value, number, `${path}.p_value`);
  optional(feature.pre_activation_shift, number, `${path}.pre_activation_shift`);
  optional(feature.freq_base_ci, numbers, `${path}.freq_base_ci`);
  optional(feature.freq_sft_ci, numbers, `${path}.freq_sft_ci`);
  optional(feature.neuronpedia_url, text, `${path}.neuronpedia_url`);
  if (feature.contexts !== undefined) {
    const contexts = object(feature.contexts, `${path}.contexts`);
    for (const side of ['base', 'sft'])
      list(contexts[side], `${path}.contexts.${side}`).forEach((c, i) => checkContext(c, `${path}.contexts.${side}[${i}]`));
  }
  if (feature.logit_effects !== undefined) {
    const effects = object(feature.logit_effects, `${path}.logit_effects`);
    for (const side of ['promoted', 'suppressed']) {
      list(effects[side], `${path}.logit_effects.${side}`).forEach((e, i) => {
        const entry = object(e, `${path}.logit_effects.${side}[${i}]`);
        text(entry.token, `${path}.logit_effects.${side}[${i}].token`);
        number(entry.value, `${path}.logit_effects.${side}[${i}].value`);
      });
    }
  }
}

function checkContext(value: unknown, path: string): void {
  const context = object(value, path);
  for (const key of ['activation', 'sample', 'position']) number(context[key], `${path}.${key}`);
  for (const key of ['before', 'token', 'after']) optional(context[key], text, `${path}.${key}`);
  if (context.tokens !== undefined) strings(context.tokens, `${path}.tokens`);
  if (context.activations !== undefined) numbers(context.activations, `${path}.activations`);
  optional(context.focus, number, `${path}.focus`);
  optional(context.duplicate_of, number, `${path}.duplicate_of`);
}

function checkColumns(value: unknown, path: string): void {
  const columns = object(value, path);
  const length = list(columns.id, `${path}.id`).length;
  for (const key of COLUMN_NUMBERS) {
    numbers(columns[key], `${path}.${key}`);
    if ((columns[key] as unknown[]).length !== length)
      throw new Problem(`${path}.${key} has ${(columns[key] as unknown[]).length} entries, ${path}.id has ${length}`);
  }
  strings(columns.category, `${path}.category`);
  for (const key of ['category', 'q_value', 'significant', 'near_threshold', 'label']) {
    if (columns[key] !== undefined && list(columns[key], `${path}.${key}`).length !== length)
      throw new Problem(`${path}.${key} has ${(columns[key] as unknown[]).length} entries, ${path}.id has ${length}`);
  }
  optional(columns.q_value, numbers, `${path}.q_value`);
  (columns.label as unknown[] | undefined)?.forEach((v, i) => {
    if (v !== null) text(v, `${path}.label[${i}]`);
  });
}

function checkFineTuneComparison(value: unknown): void {
  const ftc = object(value, 'fine_tune_comparison');
  list(ftc.profiles, 'fine_tune_comparison.profiles').forEach((p, i) => {
    const profile = object(p, `fine_tune_comparison.profiles[${i}]`);
    text(profile.sft, `fine_tune_comparison.profiles[${i}].sft`);
    for (const key of ['peak_layer', 'peak_share', 'concentration']) number(profile[key], `fine_tune_comparison.profiles[${i}].${key}`);
  });
  list(ftc.profile_similarity, 'fine_tune_comparison.profile_similarity').forEach((p, i) => {
    const pair = object(p, `fine_tune_comparison.profile_similarity[${i}]`);
    text(pair.a, `fine_tune_comparison.profile_similarity[${i}].a`);
    text(pair.b, `fine_tune_comparison.profile_similarity[${i}].b`);
    number(pair.cosine, `fine_tune_comparison.profile_similarity[${i}].cosine`);
  });
  optional(ftc.shared_count, numberRecord, 'fine_tune_comparison.shared_count');
}
