import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { SaeDiffError } from '../core/errors';

/** Label files are text: a cap on what is read (and inflated) keeps a wrong path from exhausting memory. */
export const MAX_LABEL_BYTES = 256 * 1024 * 1024;

/** The labels of one layer and what the export says it describes (Neuronpedia's modelId / layer). */
export interface LabelSet {
  labels: Map<number, string>;
  /** Neuronpedia `modelId`s and `layer`s (e.g. "6-res-jb") found in the records. */
  modelIds: Set<string>;
  layers: Set<string>;
  files: string[];
}

function fail(
  file: string,
  message: string,
  hint = 'Use {"<feature index>": "label"}, a list of {index, description}, or Neuronpedia\'s explanation export (JSON, JSONL or explanations/batch-N.jsonl.gz).',
): SaeDiffError {
  return new SaeDiffError(message, { location: { file, key: 'sae.labels' }, hint });
}

/** Natural order, so that batch-2 comes before batch-10. */
const natural = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });
const LABEL_FILE = /\.(jsonl|json)(\.gz)?$/i;

/** A labels file, or a folder of batches (Neuronpedia's export: explanations/batch-N.jsonl.gz). */
function labelFiles(target: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw fail(target, `Labels file not found: ${target}`, 'Fix sae.labels.');
  }
  if (stat.isFile()) return [target];
  if (!stat.isDirectory())
    throw fail(target, `${target} is neither a file nor a folder`, 'Point sae.labels at a labels file or a folder of batches.');
  const sub = path.join(target, 'explanations');
  const dir = fs.existsSync(sub) && fs.statSync(sub).isDirectory() ? sub : target;
  const files = fs
    .readdirSync(dir)
    .filter((f) => LABEL_FILE.test(f))
    .sort(natural)
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
  if (files.length === 0)
    throw fail(
      target,
      `No label files (*.json, *.jsonl, *.jsonl.gz) in the folder ${dir}`,
      "Point sae.labels at a labels file or at the export's explanations folder.",
    );
  return files;
}

function readText(file: string): string {
  const size = fs.statSync(file).size;
  if (size > MAX_LABEL_BYTES)
    throw fail(
      file,
      `The labels file has ${size} bytes, more than the ${MAX_LABEL_BYTES} a labels file may have`,
      'Split it into batches, or check sae.labels points at the labels.',
    );
  const raw = fs.readFileSync(file);
  if (!/\.gz$/i.test(file)) return raw.toString('utf8');
  try {
    return zlib.gunzipSync(raw, { maxOutputLength: MAX_LABEL_BYTES }).toString('utf8');
  } catch (e) {
    throw fail(
      file,
      `Cannot gunzip the labels file (${(e as Error).message})`,
      'The file is damaged, or inflates past the labels size cap; download the batch again.',
    );
  }
}

/** The records of a file: a JSON document (list, {explanations: [...]}, or a map), or JSON Lines. */
function records(text: string, file: string): unknown[] | Record<string, unknown> {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (!/\.jsonl(\.gz)?$/i.test(file)) {
    try {
      const data: unknown = JSON.parse(trimmed);
      if (Array.isArray(data)) return data;
      if (data && typeof data === 'object') {
        const o = data as Record<string, unknown>;
        return Array.isArray(o.explanations) ? o.explanations : Array.isArray(o.features) ? o.features : o;
      }
      throw fail(file, 'The labels file is JSON but neither a list nor an object');
    } catch (e) {
      if (e instanceof SaeDiffError) throw e;
      if (!trimmed.includes('\n')) throw fail(file, `Not valid JSON: ${(e as Error).message}`);
      // several lines that are not one JSON document: JSON Lines in a .json file
    }
  }
  const out: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new SaeDiffError(`Line ${i + 1} of the labels file is not JSON: ${(e as Error).message}`, {
        location: { file, line: i + 1, key: 'sae.labels' },
        hint: 'Each line of a JSONL export is one {index, description} record.',
      });
    }
  });
  return out;
}

/**
 * Feature labels as Neuronpedia and others write them: a plain map {"<index>": "text"}; Neuronpedia's
 * legacy JSON list and its JSONL / JSONL.gz batches of {modelId, layer, index, description}; a folder of
 * such batches. Labels may cover only some features. An empty file gives no labels.
 */
export function readLabelSet(target: string): LabelSet {
  const set: LabelSet = { labels: new Map(), modelIds: new Set(), layers: new Set(), files: labelFiles(target) };
  let nonEmpty = false;
  for (const file of set.files) {
    const data = records(readText(file), file);
    if (Array.isArray(data)) {
      for (const item of data) {
        nonEmpty = true;
        const r = (item !== null && typeof item === 'object' ? item : {}) as Record<string, unknown>;
        const idx = Number(r.index ?? r.feature ?? r.id ?? r.featureIndex);
        const text = r.description ?? r.explanation ?? r.label ?? r.text;
        if (typeof r.modelId === 'string') set.modelIds.add(r.modelId);
        if (r.layer !== undefined && r.layer !== null) set.layers.add(String(r.layer));
        if (Number.isInteger(idx) && idx >= 0 && typeof text === 'string' && !set.labels.has(idx)) set.labels.set(idx, text);
      }
    } else {
      for (const [k, v] of Object.entries(data)) {
        nonEmpty = true;
        const o = v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
        const text = typeof v === 'string' ? v : (o?.description ?? o?.label);
        if (/^\d+$/.test(k) && typeof text === 'string' && !set.labels.has(Number(k))) set.labels.set(Number(k), text);
      }
    }
  }
  // records, but none with an index and a text: a format this reader does not know, not an empty set
  if (nonEmpty && set.labels.size === 0)
    throw fail(
      target,
      `No feature labels found in ${set.files.length > 1 ? `the ${set.files.length} label files of the folder` : 'the labels file'}`,
    );
  return set;
}

/** Compat: the labels alone. */
export function readLabels(target: string): Map<number, string> {
  return readLabelSet(target).labels;
}

const modelKey = (s: string) =>
  s
    .toLowerCase()
    .split('/')
    .pop()!
    .replace(/[^a-z0-9.]+/g, '-');

/** Where the export says it describes another model or layer than the SAE it labels (warnings, not errors). */
export function labelMismatches(set: LabelSet, layer: number, saeModelName?: string): string[] {
  const out: string[] = [];
  const where = set.files.length === 1 ? set.files[0] : path.dirname(set.files[0]);
  // Neuronpedia layer ids start with the layer index: "6-res-jb", "20-gemmascope-res-16k"
  const otherLayers = [...set.layers].filter((l) => /^\d+/.test(l) && Number(/^\d+/.exec(l)![0]) !== layer);
  if (otherLayers.length) out.push(`The labels for layer ${layer} (${where}) say they describe layer ${otherLayers.join(', ')}.`);
  if (saeModelName) {
    const other = [...set.modelIds].filter((m) => modelKey(m) !== modelKey(saeModelName));
    if (other.length)
      out.push(`The labels for layer ${layer} (${where}) describe model ${other.join(', ')}, but the SAE was trained on ${saeModelName}.`);
  }
  return out;
}
