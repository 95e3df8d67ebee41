import { shardSamples } from '../data/batching';
import { SaeDiffError } from '../core/errors';
import { HISTOGRAM_BINS } from '../metrics/activationHistogram';
import type { SerializedAccumulator } from '../metrics/serialize';
import type { Provenance, SaeDiffReport } from '../../shared/reportTypes';

/** More shards than this is not a run anyone made: a count of 2^32 or 1e9 is refused before any allocation. */
export const MAX_SHARDS = 65536;

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function bad(
  file: string,
  message: string,
  hint = 'Use the partial reports exactly as `sae-diff run --shard i/n` wrote them.',
): SaeDiffError {
  return new SaeDiffError(message, { location: { file }, hint });
}

/** The shard of a partial report, checked: integers with 0 <= index < count <= MAX_SHARDS. */
export function checkShard(r: SaeDiffReport, file: string): { index: number; count: number } {
  const s = r.shard as { index?: unknown; count?: unknown };
  if (!isInt(s.count, 1, MAX_SHARDS))
    throw bad(file, `The shard count ${JSON.stringify(s.count)} is not an integer from 1 to ${MAX_SHARDS}`);
  if (!isInt(s.index, 0, s.count - 1))
    throw bad(
      file,
      `The shard index ${JSON.stringify(s.index)} is not one of 0 to ${s.count - 1} (shard ${typeof s.index === 'number' ? s.index + 1 : '?'} of ${s.count})`,
    );
  return { index: s.index, count: s.count };
}

function short(h: string): string {
  return h.slice(0, 12);
}

/** Each part ran on the same dataset, models and SAEs as the first, by content hash (paths may differ between machines). */
export function checkProvenance(parts: SaeDiffReport[], files: string[]): void {
  const provs = parts.map((p, i) => {
    const pv = p.partial?.provenance as Provenance | undefined;
    if (!isObj(pv) || !isObj(pv.dataset) || !Array.isArray(pv.models) || !isObj(pv.saes)) {
      throw bad(
        files[i],
        'This partial report does not record what it ran on (dataset, models and SAE hashes)',
        'Run every shard again with this version of sae-diff.',
      );
    }
    return pv;
  });
  const first = provs[0];
  provs.forEach((pv, i) => {
    if (i === 0) return;
    const where = `than the first part (${files[0]})`;
    const whose = `from the first part's (${files[0]})`;
    if (pv.dataset.sha256 !== first.dataset.sha256) {
      throw bad(
        files[i],
        `This part was run on other prompts ${where}: dataset ${pv.dataset.path} (sha256 ${short(String(pv.dataset.sha256))}) vs ${first.dataset.path} (${short(first.dataset.sha256)})`,
        'Merge only shards of one run.',
      );
    }
    const key = (m: Provenance['models'][number]) => `${m.role}:${m.name}`;
    const firstModels = new Map(first.models.map((m) => [key(m), m]));
    if (pv.models.length !== first.models.length)
      throw bad(
        files[i],
        `This part compared ${pv.models.length} models, the first ${first.models.length}`,
        'Merge only shards of one run.',
      );
    for (const m of pv.models) {
      const f = firstModels.get(key(m));
      if (!f)
        throw bad(
          files[i],
          `This part has a model ${m.role} '${m.name}' that the first part does not have`,
          'Merge only shards of one run.',
        );
      if (f.sha256 !== m.sha256) {
        throw bad(
          files[i],
          `The ${m.role} model '${m.name}' of this part differs ${whose}: ${m.path} (sha256 ${short(String(m.sha256))}) vs ${f.path} (${short(f.sha256)})`,
          'Merge only shards of one run.',
        );
      }
    }
    const layers = new Set([...Object.keys(pv.saes), ...Object.keys(first.saes)]);
    for (const l of layers) {
      const a = pv.saes[l],
        b = first.saes[l];
      if (!a || !b || a.sha256 !== b.sha256) {
        throw bad(
          files[i],
          `The SAE of layer ${l} of this part differs ${whose}: ${a?.path ?? 'none'} (sha256 ${short(String(a?.sha256 ?? '-'))}) vs ${b?.path ?? 'none'} (${short(String(b?.sha256 ?? '-'))})`,
          'Merge only shards of one run.',
        );
      }
    }
  });
}

/**
 * One part's content is what its shard must hold: the sequence ids of its slice of the dataset, token
 * ids that are integers, and for each model and layer an accumulator of the SAE's shape whose token
 * count is the slice's evaluated tokens and whose contexts point into the slice. A truncated, emptied
 * or inflated part is refused before it is merged.
 */
export function checkPartContent(
  r: SaeDiffReport,
  file: string,
  shard: { index: number; count: number },
  expect: {
    samplesTotal: number;
    layers: number[];
    models: number;
    excludeBos: boolean;
    topContexts: number;
    shapes: Map<number, { width: number; hidden: number }>;
  },
): void {
  const p = r.partial!;
  if (p.samples_total !== expect.samplesTotal)
    throw bad(file, `This part's dataset has ${JSON.stringify(p.samples_total)} prompts, the first part's ${expect.samplesTotal}`);
  if (!isObj(p.sequences)) throw bad(file, 'The partial report has no sequences');
  const slice = shardSamples(expect.samplesTotal, shard);
  const keys = Object.keys(p.sequences);
  const lengths = new Map<number, number>();
  if (keys.length !== slice.length || slice.some((i) => !(String(i) in p.sequences))) {
    throw bad(
      file,
      `The sequence ids of this part (${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}) are not prompts ${slice.length ? `${slice[0]}-${slice[slice.length - 1]}` : '(none)'} of shard ${shard.index + 1} of ${shard.count}`,
    );
  }
  let tokens = 0;
  for (const i of slice) {
    const ids = p.sequences[String(i)];
    if (!Array.isArray(ids) || !ids.every((t) => isInt(t, 0, 2 ** 31 - 1)))
      throw bad(file, `The token ids of prompt ${i} are not a list of non-negative integers`);
    lengths.set(i, ids.length);
    tokens += Math.max(0, ids.length - (expect.excludeBos ? 1 : 0));
  }
  if (!Array.isArray(p.accumulators) || p.accumulators.length !== expect.models) {
    throw bad(
      file,
      `The partial report holds accumulators for ${Array.isArray(p.accumulators) ? p.accumulators.length : 0} models, not ${expect.models}`,
    );
  }
  p.accumulators.forEach((perLayer, mi) => {
    if (!isObj(perLayer)) throw bad(file, `The accumulators of model ${mi + 1} are not a mapping of layers`);
    const got = Object.keys(perLayer).sort().join(',');
    const want = expect.layers.map(String).sort().join(',');
    if (got !== want) throw bad(file, `The accumulators of model ${mi + 1} are for layers [${got}], not [${want}]`);
    for (const l of expect.layers)
      checkAccumulator(
        perLayer[String(l)] as SerializedAccumulator,
        `model ${mi + 1}, layer ${l}`,
        expect.shapes.get(l)!,
        expect.topContexts,
        tokens,
        lengths,
        file,
      );
  });
}

function checkAccumulator(
  s: SerializedAccumulator,
  what: string,
  shape: { width: number; hidden: number },
  topContexts: number,
  tokens: number,
  lengths: Map<number, number>,
  file: string,
): void {
  const fail = (m: string) => bad(file, `The accumulator of ${what} ${m}`);
  if (!isObj(s)) throw fail('is missing');
  if (s.width !== shape.width || s.hidden !== shape.hidden)
    throw fail(`is ${JSON.stringify(s.width)} × ${JSON.stringify(s.hidden)}, but the SAE is ${shape.width} × ${shape.hidden}`);
  if (s.contexts !== topContexts)
    throw fail(`keeps ${JSON.stringify(s.contexts)} contexts per feature, not metrics.top_contexts ${topContexts}`);
  if (!isObj(s.sums) || !Object.values(s.sums).every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw fail('has sums that are not finite numbers');
  if (s.sums.tokens !== tokens)
    throw fail(`counts ${JSON.stringify(s.sums.tokens)} tokens, but the shard's prompts have ${tokens} evaluated tokens`);
  const finiteArray = (a: unknown, n: number) =>
    Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  for (const k of ['cntB', 'cntS', 'sumZb', 'sumZs', 'sumDiff', 'sumSqDiff'] as const) {
    if (!finiteArray(s[k], shape.width)) throw fail(`has a ${k} that is not ${shape.width} finite numbers`);
  }
  for (const k of ['cntB', 'cntS'] as const) if (!s[k].every((c) => isInt(c, 0, tokens))) throw fail(`has ${k} counts outside 0-${tokens}`);
  checkHistograms(s, shape.width, fail);
  for (const k of ['sumHb', 'sumHs'] as const)
    if (!finiteArray(s[k], shape.hidden)) throw fail(`has a ${k} that is not ${shape.hidden} finite numbers`);
  for (const c of [s.ctxBase, s.ctxSft]) {
    const n = shape.width * topContexts;
    if (!isObj(c) || !finiteArray(c.values, n) || !finiteArray(c.samples, n) || !finiteArray(c.positions, n))
      throw fail(`has top contexts that are not ${n} finite entries`);
    for (let i = 0; i < n; i++) {
      const sample = c.samples[i];
      if (sample === -1) continue;
      const len = lengths.get(sample);
      if (len === undefined || !isInt(c.positions[i], 0, len - 1))
        throw fail(`has a top context (prompt ${sample}, position ${c.positions[i]}) outside this shard's prompts`);
    }
  }
}

/**
 * Activation histograms, when the part has them (parts of older versions have none: the merged report then
 * has no histograms): integer counts of the known bins whose sum per feature is the feature's firing count.
 */
function checkHistograms(s: SerializedAccumulator, width: number, fail: (m: string) => Error): void {
  if (s.histBase === undefined && s.histSft === undefined) return;
  if (s.histogramBins !== HISTOGRAM_BINS) throw fail(`has histograms of ${JSON.stringify(s.histogramBins)} bins, not ${HISTOGRAM_BINS}`);
  for (const [k, count] of [
    ['histBase', s.cntB],
    ['histSft', s.cntS],
  ] as const) {
    const h = s[k];
    if (!Array.isArray(h) || h.length !== width * HISTOGRAM_BINS) throw fail(`has a ${k} that is not ${width * HISTOGRAM_BINS} counts`);
    for (let f = 0; f < width; f++) {
      let sum = 0;
      for (let j = 0; j < HISTOGRAM_BINS; j++) {
        const c = h[f * HISTOGRAM_BINS + j];
        if (!isInt(c, 0, 2 ** 32 - 1)) throw fail(`has a ${k} count that is not a non-negative integer`);
        sum += c;
      }
      if (sum !== count[f]) throw fail(`has a ${k} of feature ${f} that sums to ${sum}, not its firing count ${count[f]}`);
    }
  }
}
