import type { ComparisonReport } from '../../src/shared/reportTypes';

/** docs/metrics.md tolerances. */
export const LAYER_TOL = 2e-3;
export const FEATURE_REL_TOL = 1e-3;
export const FEATURE_ABS_TOL = 1e-6;

/** The scalar metrics of a layer, each compared with a tolerance. */
export const LAYER_SCALARS = [
  'dense_cosine',
  'recon_cosine',
  'feature_overlap',
  'active_jaccard',
  'l1_divergence',
  'norm_ratio',
  'l0_base',
  'l0_sft',
  'explained_variance_base',
  'explained_variance_sft',
] as const;
const FEATURE_KEYS = ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'] as const;

/** Every way a comparison disagrees with a golden file, per docs/metrics.md's rules; empty = reproduced. */
export function compareWithGolden(actual: ComparisonReport, golden: any): string[] {
  const problems: string[] = [];
  for (const g of golden.layers) {
    const a = actual.layers.find((l) => l.layer === g.layer);
    if (!a) {
      problems.push(`layer ${g.layer} missing`);
      continue;
    }
    for (const k of LAYER_SCALARS) {
      if (!(Math.abs(a[k] - g[k]) <= LAYER_TOL)) problems.push(`layer ${g.layer} ${k}: ${a[k]} vs golden ${g[k]}`);
    }
    if ([...a.flags].sort().join() !== [...g.flags].sort().join()) problems.push(`layer ${g.layer} flags: ${a.flags} vs golden ${g.flags}`);
    if (g.shifted_count !== undefined && a.shifted_count !== g.shifted_count)
      problems.push(`layer ${g.layer} shifted_count: ${a.shifted_count} vs golden ${g.shifted_count}`);
    for (const gf of g.shifted_features) {
      const af = a.shifted_features.find((f) => f.id === gf.id);
      if (!af) {
        problems.push(`layer ${g.layer} feature ${gf.id} not listed`);
        continue;
      }
      for (const k of FEATURE_KEYS) {
        const diff = Math.abs(af[k] - gf[k]);
        if (!(diff <= FEATURE_ABS_TOL || diff <= FEATURE_REL_TOL * Math.abs(gf[k])))
          problems.push(`layer ${g.layer} feature ${gf.id} ${k}: ${af[k]} vs golden ${gf[k]}`);
      }
    }
    problems.push(...rankingProblems(g.layer, a.shifted_features, g.shifted_features));
  }
  return problems;
}

type Ranked = { id: number; category: string };

/** docs/metrics.md's ranking rule: the reference list's first 10 features among the first 15 of `actual`, each with its category. */
export function rankingProblems(layer: number, actual: Ranked[], reference: Ranked[]): string[] {
  const problems: string[] = [];
  const first15 = actual.slice(0, 15);
  for (const gf of reference.slice(0, 10)) {
    const hit = first15.find((f) => f.id === gf.id);
    if (!hit) problems.push(`layer ${layer}: reference top-10 feature ${gf.id} not among the first 15`);
    else if (hit.category !== gf.category)
      problems.push(`layer ${layer} feature ${gf.id} category ${hit.category} vs reference ${gf.category}`);
  }
  return problems;
}
