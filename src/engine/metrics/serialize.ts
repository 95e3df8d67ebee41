import { HISTOGRAM_BINS } from './activationHistogram';
import { LayerAccumulator } from './layerAccumulator';
import type { LayerSums } from './layerSums';
import { TopContexts } from './topContexts';

/** A LayerAccumulator as JSON (float64 sums print and parse back exactly). */
export interface SerializedAccumulator {
  width: number;
  hidden: number;
  contexts: number;
  sums: LayerSums;
  cntB: number[];
  cntS: number[];
  sumZb: number[];
  sumZs: number[];
  sumDiff: number[];
  sumSqDiff: number[];
  sumHb: number[];
  sumHs: number[];
  ctxBase: SerializedContexts;
  ctxSft: SerializedContexts;
  /**
   * Activation histograms, width x HISTOGRAM_BINS counts, feature-major (metrics/activationHistogram.ts).
   * Absent in parts written before histograms existed: the merged report then has none.
   */
  histBase?: number[];
  histSft?: number[];
  histogramBins?: number;
}
interface SerializedContexts {
  values: number[];
  samples: number[];
  positions: number[];
}

/** The accumulator's per-feature and per-dimension arrays (metrics/accumulatorAgreement.ts names each). */
export const ACCUMULATOR_ARRAYS = ['cntB', 'cntS', 'sumZb', 'sumZs', 'sumDiff', 'sumSqDiff', 'sumHb', 'sumHs'] as const;

function contextsToJson(c: TopContexts): SerializedContexts {
  // -Infinity (empty slot) is not JSON: empty slots are the ones with sample -1
  return {
    values: Array.from(c.values, (v) => (Number.isFinite(v) ? v : 0)),
    samples: Array.from(c.samples),
    positions: Array.from(c.positions),
  };
}

export function accumulatorToJson(a: LayerAccumulator): SerializedAccumulator {
  const out = {
    width: a.width,
    hidden: a.hidden,
    contexts: a.ctxBase.capacity,
    sums: { ...a.sums },
    ...Object.fromEntries(ACCUMULATOR_ARRAYS.map((k) => [k, Array.from(a[k])])),
    ctxBase: contextsToJson(a.ctxBase),
    ctxSft: contextsToJson(a.ctxSft),
  } as SerializedAccumulator;
  if (!a.histogramsMissing) {
    out.histogramBins = HISTOGRAM_BINS;
    out.histBase = Array.from(a.histBase.counts);
    out.histSft = Array.from(a.histSft.counts);
  }
  return out;
}

function contextsFromJson(target: TopContexts, s: SerializedContexts): void {
  for (let i = 0; i < s.samples.length; i++) {
    target.samples[i] = s.samples[i];
    target.positions[i] = s.positions[i];
    target.values[i] = s.samples[i] >= 0 ? s.values[i] : -Infinity;
  }
}

export function accumulatorFromJson(s: SerializedAccumulator): LayerAccumulator {
  const a = new LayerAccumulator(s.width, s.hidden, s.contexts);
  a.sums = { ...s.sums };
  for (const k of ACCUMULATOR_ARRAYS) a[k].set(s[k]);
  contextsFromJson(a.ctxBase, s.ctxBase);
  contextsFromJson(a.ctxSft, s.ctxSft);
  if (s.histBase && s.histSft && s.histogramBins === HISTOGRAM_BINS) {
    a.histBase.counts.set(s.histBase);
    a.histSft.counts.set(s.histSft);
  } else {
    a.histogramsMissing = true;
  }
  return a;
}
