import { SaeDiffError } from '../errors';
import { READ_CAPS } from '../io/boundedRead';
import { readJson } from '../model/modelFolder';

/**
 * Feature labels: a JSON object {"<index>": "text"}, or a list of records such as Neuronpedia's
 * explanation export ({index, description}) or {feature|id, label|explanation|text}.
 */
export function readLabels(file: string): Map<number, string> {
  const data = readJson(file, READ_CAPS.labels) as unknown;
  const labels = new Map<number, string>();
  const records = Array.isArray(data) ? data : (data as any)?.explanations ?? (data as any)?.features;
  if (Array.isArray(records)) {
    for (const r of records) {
      const idx = Number(r?.index ?? r?.feature ?? r?.id ?? r?.featureIndex);
      const text = r?.description ?? r?.label ?? r?.explanation ?? r?.text;
      if (Number.isInteger(idx) && typeof text === 'string' && !labels.has(idx)) labels.set(idx, text);
    }
  } else if (data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
      const text = typeof v === 'string' ? v : (v as any)?.description ?? (v as any)?.label;
      if (/^\d+$/.test(k) && typeof text === 'string') labels.set(Number(k), text);
    }
  }
  if (labels.size === 0) {
    throw new SaeDiffError('No feature labels found in the labels file', {
      location: { file, key: 'sae.labels' }, hint: 'Use {"<feature index>": "label"} or a list of {index, description} (Neuronpedia export).',
    });
  }
  return labels;
}
