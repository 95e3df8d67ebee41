/**
 * The report's optional "trust" fields (significance, self-check, noise floor, decomposition, parity), for UI
 * and export tests: stripped, to stand for an older report, or filled with synthetic values.
 */
import type { FeatureCategory, SaeDiffReport } from '../../src/shared/reportTypes';

export const FAILING_LAYER_MESSAGE = 'L0 of the base SAE is 412 but 32 is declared: the hook may be wrong.';
export const PARITY_WARNING = 'Chat templates differ between base and fine-tune <b>not markup</b>';
export const REFERENCE_NAME = 'base-reseeded';

/** The report as an older engine wrote it: none of the trust fields. */
export function withoutTrustFields(original: SaeDiffReport): SaeDiffReport {
  const copy = structuredClone(original);
  // Version 1: only the top features, listed in full (no all_shifted columns).
  copy.version = 1;
  delete copy.run.fdr;
  delete copy.run.self_check_failed;
  delete copy.run.parity_warnings;
  delete copy.noise_floor;
  delete copy.prompts;
  for (const comparison of copy.comparisons) {
    for (const layer of comparison.layers) {
      delete layer.all_shifted;
      for (const key of [
        'significant_counts',
        'decomposition',
        'noise_floor',
        'within_noise_floor',
        'flags_suppressed_by_floor',
        'self_check',
      ] as const)
        delete layer[key];
      for (const feature of layer.shifted_features) {
        for (const key of [
          'significant',
          'p_value',
          'q_value',
          'freq_base_ci',
          'freq_sft_ci',
          'pre_activation_shift',
          'near_threshold',
          'logit_effects',
          'neuronpedia_url',
        ] as const)
          delete feature[key];
        for (const context of [...(feature.contexts?.base ?? []), ...(feature.contexts?.sft ?? [])]) {
          for (const key of ['tokens', 'token_ids', 'activations', 'focus', 'duplicate_of'] as const) delete context[key];
        }
      }
    }
  }
  return copy;
}

/**
 * Synthetic trust fields on a real report: every third listed feature is not significant, the second is
 * near the threshold, layer `failingLayer` fails the self-check, layer `floorLayer` is within the noise floor.
 */
export function withTrustFields(original: SaeDiffReport, options: { failingLayer: number; floorLayer: number }): SaeDiffReport {
  const copy = withoutTrustFields(original);
  copy.run.fdr = 0.05;
  copy.run.self_check_failed = true;
  copy.run.parity_warnings = [PARITY_WARNING, 'Prompts get a double BOS in the fine-tune'];
  copy.noise_floor = { reference: { name: REFERENCE_NAME, path: '/models/base-reseeded' } };
  for (const comparison of copy.comparisons) {
    for (const layer of comparison.layers) {
      const failing = layer.layer === options.failingLayer;
      layer.self_check = failing
        ? {
            ok: false,
            l0_base: 412,
            explained_variance_base: 0.12,
            declared_l0: 32,
            declared_explained_variance: 0.8,
            messages: [FAILING_LAYER_MESSAGE],
          }
        : { ok: true, l0_base: layer.l0_base, explained_variance_base: layer.explained_variance_base, messages: [] };
      layer.noise_floor = {
        dense_cosine: 0.99,
        feature_overlap: 0.8 - layer.layer / 100,
        l1_divergence: 0.05 + layer.layer / 100,
        recon_cosine: 0.98,
      };
      if (layer.layer === options.floorLayer) {
        layer.within_noise_floor = true;
        layer.flags_suppressed_by_floor = ['divergent'];
      } else {
        layer.within_noise_floor = false;
      }
      const inside = 0.63 * 4;
      layer.decomposition = { delta_sq: 4, inside, outside: 4 - inside, fraction_inside: 0.63, mean_norm_base: 3.6, mean_norm_sft: 3.5 };
      const significant: Record<FeatureCategory, number> = { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 };
      layer.shifted_features.forEach((feature, index) => {
        feature.significant = index % 3 !== 0;
        feature.p_value = feature.significant ? 1e-6 * (index + 1) : 0.2;
        feature.q_value = feature.significant ? 1e-5 * (index + 1) : 0.4;
        feature.freq_base_ci = [Math.max(0, feature.freq_base - 0.01), Math.min(1, feature.freq_base + 0.01)];
        feature.freq_sft_ci = [Math.max(0, feature.freq_sft - 0.01), Math.min(1, feature.freq_sft + 0.01)];
        feature.pre_activation_shift = feature.mean_sft - feature.mean_base;
        feature.near_threshold = index === 1;
        if (feature.significant) significant[feature.category]++;
      });
      layer.significant_counts = significant;
    }
  }
  return copy;
}
