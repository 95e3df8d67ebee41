import type { ShiftedFeature } from '../../shared/reportTypes';
import type { ComparisonReport, FineTuneComparison, FineTuneProfile, SharedFeature } from '../../shared/reportTypes';
import { cosineOf } from '../metrics/cosine';

export function profileOf(c: ComparisonReport): FineTuneProfile {
  const layers = c.layers.map((l) => ({ layer: l.layer, one_minus_overlap: 1 - l.feature_overlap, l1_divergence: l.l1_divergence }));
  const total = layers.reduce((s, l) => s + l.l1_divergence, 0);
  const peak = layers.reduce((best, l) => (l.l1_divergence > best.l1_divergence ? l : best), layers[0]);
  let entropy = 0;
  for (const l of layers)
    if (total > 0 && l.l1_divergence > 0) {
      const p = l.l1_divergence / total;
      entropy -= p * Math.log(p);
    }
  const concentration = layers.length > 1 && total > 0 ? 1 - entropy / Math.log(layers.length) : layers.length === 1 ? 1 : 0;
  return { sft: c.sft.name, layers, peak_layer: peak.layer, peak_share: total > 0 ? peak.l1_divergence / total : 0, concentration };
}

/** The profile vector compared between fine-tunes: (1 - overlap, l1_divergence) layer by layer. */
export function profileVector(p: FineTuneProfile): number[] {
  return p.layers.flatMap((l) => [l.one_minus_overlap, l.l1_divergence]);
}

/**
 * Compares fine-tunes with each other: profiles, where each diverges most, profile similarity, and the
 * shifted features they share versus the ones unique to one (from every non-stable feature, not only
 * the listed ones).
 */
export function compareFineTunes(
  comparisons: ComparisonReport[],
  allShifted: Map<number, ShiftedFeature[]>[],
  labels: Map<number, Map<number, string>>,
  listSize: number,
): FineTuneComparison {
  const profiles = comparisons.map(profileOf);
  const profile_similarity = [];
  for (let i = 0; i < profiles.length; i++) {
    for (let j = i + 1; j < profiles.length; j++) {
      profile_similarity.push({
        a: profiles[i].sft,
        b: profiles[j].sft,
        cosine: cosineOf(profileVector(profiles[i]), profileVector(profiles[j])),
      });
    }
  }
  const names = comparisons.map((c) => c.sft.name);
  const shared: SharedFeature[] = [];
  const shared_count: Record<string, number> = {};
  const unique_count: Record<string, Record<string, number>> = {};
  const unique: Record<string, FineTuneComparison['unique_features'][string]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const layer of comparisons[0].layers.map((l) => l.layer)) {
    const byFeature = new Map<number, { sft: string; f: ShiftedFeature }[]>();
    allShifted.forEach((perLayer, si) => {
      for (const f of perLayer.get(layer) ?? []) {
        let list = byFeature.get(f.id);
        if (!list) byFeature.set(f.id, (list = []));
        list.push({ sft: names[si], f });
      }
    });
    shared_count[String(layer)] = 0;
    unique_count[String(layer)] = Object.fromEntries(names.map((n) => [n, 0]));
    const label = (id: number) => (labels.get(layer)?.has(id) ? { label: labels.get(layer)!.get(id)! } : {});
    for (const [id, hits] of byFeature) {
      if (hits.length >= 2) {
        shared_count[String(layer)]++;
        shared.push({
          layer,
          id,
          categories: Object.fromEntries(hits.map((h) => [h.sft, h.f.category])),
          mean_abs_diff_sum: hits.reduce((s, h) => s + h.f.mean_abs_diff, 0),
          ...label(id),
        });
      } else {
        const h = hits[0];
        unique_count[String(layer)][h.sft]++;
        unique[h.sft].push({ layer, id, category: h.f.category, mean_abs_diff: h.f.mean_abs_diff, ...label(id) });
      }
    }
  }
  shared.sort((a, b) => b.mean_abs_diff_sum - a.mean_abs_diff_sum || a.layer - b.layer || a.id - b.id);
  for (const n of names)
    unique[n] = unique[n].sort((a, b) => b.mean_abs_diff - a.mean_abs_diff || a.layer - b.layer || a.id - b.id).slice(0, listSize);
  return { profiles, profile_similarity, shared_features: shared.slice(0, listSize), shared_count, unique_count, unique_features: unique };
}
