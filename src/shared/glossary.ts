/**
 * What every number, flag and trust figure in a report means, and the rule behind it: the one source for
 * the panel's tooltips and glossary section. docs/metrics.md repeats these texts word for word
 * (test/glossary.test.ts checks it). No DOM or vscode imports.
 *
 * Notation: T is the evaluated token set (every unmasked position except position 0, the BOS token, by
 * default); h_b, h_s the hooked residual of base and fine-tune; z_b, z_s their SAE activations; r_b, r_s
 * the SAE reconstructions; A(t) the active features, K(t) the top-k active features.
 */

export interface GlossaryEntry {
  /** The report field or panel term. */
  key: string;
  /** The name the panel shows. */
  name: string;
  group: 'layer metric' | 'layer flag' | 'feature statistic' | 'feature category' | 'trust figure' | 'feature detail';
  definition: string;
  /** For flags and categories: when it is raised; for metrics: how to read it. */
  rule?: string;
}

export const GLOSSARY: GlossaryEntry[] = [
  // Layer metrics
  { key: 'dense_cosine', name: 'dense cosine', group: 'layer metric',
    definition: 'Mean over tokens of the cosine between the base and fine-tune residual vectors at the hooked layer (range -1 to 1).',
    rule: '1 means the residual stream points the same way in both models; it can stay high while the features underneath change (see hidden shift).' },
  { key: 'recon_cosine', name: 'recon cosine', group: 'layer metric',
    definition: 'Mean over tokens of the cosine between the SAE reconstructions of base and fine-tune (range -1 to 1).',
    rule: 'The dense cosine seen through the dictionary: what the SAE can express of the change.' },
  { key: 'feature_overlap', name: 'feature overlap', group: 'layer metric',
    definition: 'Mean over tokens of the Jaccard index of the top-k active features of base and fine-tune (k = sae.k; range 0 to 1).',
    rule: '1 means the same strongest features fire on every token; below overlap_threshold (default 0.5) with a high dense cosine is a hidden shift.' },
  { key: 'active_jaccard', name: 'active Jaccard', group: 'layer metric',
    definition: 'Mean over tokens of the Jaccard index of all active features (activation > 0) of base and fine-tune (range 0 to 1).',
    rule: 'Like feature overlap, but over every active feature rather than the top k: weak features count as much as strong ones.' },
  { key: 'l1_divergence', name: 'L1 divergence', group: 'layer metric',
    definition: 'Summed over tokens, the L1 distance between the feature activations of base and fine-tune, divided by the sum of both L1 norms (range 0 to 1; 0 when both are zero).',
    rule: '0 means identical feature activity, 1 means disjoint; at or above l1_divergence_threshold (default 0.3) the layer is divergent.' },
  { key: 'norm_ratio', name: 'norm ratio', group: 'layer metric',
    definition: 'Summed residual norm of the fine-tune divided by that of base.',
    rule: 'Above 1 the fine-tune’s residual stream is larger; SAE features are not scale-free, so a large ratio alone shifts activations.' },
  { key: 'l0_base', name: 'L0 base', group: 'layer metric',
    definition: 'Mean number of active SAE features per token in base.' },
  { key: 'l0_sft', name: 'L0 SFT', group: 'layer metric',
    definition: 'Mean number of active SAE features per token in the fine-tune.' },
  { key: 'explained_variance_base', name: 'EV base', group: 'layer metric',
    definition: 'Explained variance of the SAE on base: 1 - Σ‖h_b - r_b‖² / Σ‖h_b - mean(h_b)‖² (at most 1).',
    rule: 'How well the dictionary describes base at this layer; below min_explained_variance (default 0.5) the layer is low fidelity.' },
  { key: 'explained_variance_sft', name: 'EV SFT', group: 'layer metric',
    definition: 'Explained variance of the same SAE on the fine-tune, with the fine-tune’s own mean (at most 1).' },
  { key: 'coverage_drop', name: 'EV drop (base − SFT)', group: 'layer metric',
    definition: 'explained_variance_base - explained_variance_sft: how much less of the fine-tune the base dictionary explains.',
    rule: 'Not a report field; plotted because the coverage drop flag is judged on it (threshold coverage_drop_threshold, default 0.1).' },
  // Layer flags
  { key: 'hidden_shift', name: 'hidden shift (HS)', group: 'layer flag',
    definition: 'The dense residual looks unchanged but the features underneath changed: the dense-space illusion.',
    rule: 'dense_cosine ≥ cosine_threshold (default 0.95) and feature_overlap < overlap_threshold (default 0.5). Both must hold: a layer whose cosine is also low is not hidden, it is visibly changed.' },
  { key: 'divergent', name: 'divergent (DIV)', group: 'layer flag',
    definition: 'Feature activity differs strongly between base and fine-tune.',
    rule: 'l1_divergence ≥ l1_divergence_threshold (default 0.3).' },
  { key: 'low_fidelity', name: 'low fidelity (LF)', group: 'layer flag',
    definition: 'The SAE does not describe base at this layer, so its feature numbers are not to be trusted.',
    rule: 'explained_variance_base < min_explained_variance (default 0.5).' },
  { key: 'coverage_drop', name: 'coverage drop (CD)', group: 'layer flag',
    definition: 'The fine-tune moved into directions the base dictionary cannot express.',
    rule: 'explained_variance_base - explained_variance_sft > coverage_drop_threshold (default 0.1).' },
  // Feature statistics
  { key: 'freq_base', name: 'Freq base', group: 'feature statistic',
    definition: 'Fraction of evaluated tokens on which the feature fires (activation > 0) in base.' },
  { key: 'freq_sft', name: 'Freq SFT', group: 'feature statistic',
    definition: 'Fraction of evaluated tokens on which the feature fires in the fine-tune.' },
  { key: 'mean_base', name: 'Mean base', group: 'feature statistic',
    definition: 'Mean activation of the feature over all evaluated tokens in base (zeros included).' },
  { key: 'mean_sft', name: 'Mean SFT', group: 'feature statistic',
    definition: 'Mean activation of the feature over all evaluated tokens in the fine-tune (zeros included).' },
  { key: 'mean_abs_diff', name: 'Mean |Δ|', group: 'feature statistic',
    definition: 'Mean over tokens of |z_s - z_b| for the feature: how much its activation changes per token, in either direction.',
    rule: 'Shifted features are ordered by it, largest first.' },
  // Categories
  { key: 'emerged', name: 'emerged', group: 'feature category',
    definition: 'A feature that is dormant in base and active in the fine-tune.',
    rule: 'freq_base < dormant_freq (default 1e-4) and freq_sft ≥ active_freq (default 1e-3). Categories are checked in the order emerged, vanished, amplified, suppressed.' },
  { key: 'vanished', name: 'vanished', group: 'feature category',
    definition: 'A feature that is active in base and dormant in the fine-tune.',
    rule: 'freq_sft < dormant_freq and freq_base ≥ active_freq.' },
  { key: 'amplified', name: 'amplified', group: 'feature category',
    definition: 'A feature whose mean activation grows by at least the divergence threshold.',
    rule: 'mean_sft ≥ (1 + divergence_threshold) × mean_base (default threshold 0.5) and max(freq_base, freq_sft) ≥ active_freq.' },
  { key: 'suppressed', name: 'suppressed', group: 'feature category',
    definition: 'A feature whose mean activation shrinks by at least the divergence threshold.',
    rule: 'mean_sft ≤ (1 - divergence_threshold) × mean_base and max(freq_base, freq_sft) ≥ active_freq. Every other feature is stable and not listed.' },
  // Trust figures
  { key: 'significant', name: 'significant (sig.)', group: 'trust figure',
    definition: 'The feature’s activation change passes a paired test per token, after the Benjamini-Hochberg correction over the layer’s shifted features.',
    rule: 'q ≤ the run’s false discovery rate (run.fdr, default 0.05).' },
  { key: 'q_value', name: 'q', group: 'trust figure',
    definition: 'Benjamini-Hochberg adjusted p-value of the paired test of the activation change (z_s - z_b over tokens).' },
  { key: 'freq_ci', name: 'Wilson interval', group: 'trust figure',
    definition: '95% Wilson score interval of a firing frequency, given the number of evaluated tokens.' },
  { key: 'pre_activation_shift', name: 'pre-activation shift', group: 'trust figure',
    definition: 'Mean change (fine-tune - base) of the feature’s encoder pre-activation: (mean h_s - mean h_b) W_enc.' },
  { key: 'near_threshold', name: 'near threshold (⚠)', group: 'trust figure',
    definition: 'For JumpReLU and TopK SAEs: the pre-activation shift is within the threshold margin, so the feature may only have crossed its threshold and the category is likely an artefact.',
    rule: '|pre_activation_shift| < threshold_margin × the feature’s threshold (JumpReLU) or its mean activation when firing (TopK).' },
  { key: 'fraction_inside', name: 'inside dictionary', group: 'trust figure',
    definition: 'Share of the residual change ‖Δh‖² that lies inside the dictionary: Δh·Δr / ‖Δh‖², with Δr the change of the reconstruction.',
    rule: 'Δh·Δr (inside) + Δh·Δe (outside, Δe the change of the reconstruction error) = ‖Δh‖². A low share means the fine-tune moved where the SAE cannot see, so feature shifts tell only part of the story.' },
  { key: 'noise_floor', name: 'noise floor', group: 'trust figure',
    definition: 'The same metrics for base against a reference model that should not differ (models.reference: base quantised, or run on another provider).',
    rule: 'A layer whose L1 divergence and 1 - overlap are both at or below the floor is within the noise floor: its hidden shift, divergent and coverage drop flags are suppressed.' },
  { key: 'self_check', name: 'SAE self-check', group: 'trust figure',
    definition: 'Does the base SAE describe base at the hooked tensor as it should: L0 and explained variance against what the SAE declares, and against neighbouring positions?',
    rule: 'A failure usually means a wrong hook point, BOS handling or input normalisation: the whole diff at that layer is suspect.' },
  // Feature detail
  { key: 'logit_effects', name: 'logit effects', group: 'feature detail',
    definition: 'The tokens the feature’s decoder direction pushes up (promoted) and down (suppressed) when read straight through the unembedding: the top 10 entries each way of W_dec[f] · W_U.',
    rule: 'Ignores the layers after the hook and the final norm: a direct-path reading, as Neuronpedia shows it.' },
  { key: 'contexts', name: 'contexts', group: 'feature detail',
    definition: 'The tokens where the feature fired most in each model, with a window of tokens around each and every token’s activation of the feature, duplicates merged.' },
];

const BY_KEY = new Map(GLOSSARY.map((entry) => [`${entry.group}:${entry.key}`, entry]));

/** The entry for a term of a group; flags and metrics share keys (coverage_drop), hence the group. */
export function glossaryEntry(group: GlossaryEntry['group'], key: string): GlossaryEntry | undefined {
  return BY_KEY.get(`${group}:${key}`);
}

/** "definition Rule." for a tooltip; empty for unknown terms (a newer engine's flag, say). */
export function tooltip(group: GlossaryEntry['group'], key: string): string {
  const entry = glossaryEntry(group, key);
  return entry ? [entry.definition, entry.rule].filter(Boolean).join(' ') : '';
}
