/** A selected feature's significance, Wilson intervals, pre-activation shift and near-threshold warning (all optional). */
import type { ShiftedFeature } from '../../src/shared/reportTypes';
import { h } from '../dom';
import { formatStat } from '../format';

export function renderFeatureTrust(feature: ShiftedFeature, fdr: number | undefined): HTMLElement | null {
  const lines: (HTMLElement | null)[] = [
    significanceLine(feature, fdr),
    feature.freq_base_ci || feature.freq_sft_ci
      ? h(
          'li',
          { attrs: { 'data-testid': 'wilson-ci' } },
          '95% interval of the firing rate (Wilson): base ',
          interval(feature.freq_base_ci),
          ' → fine-tune ',
          interval(feature.freq_sft_ci),
        )
      : null,
    feature.pre_activation_shift !== undefined
      ? h('li', {}, `mean pre-activation shift (fine-tune − base): ${formatStat(feature.pre_activation_shift)}`)
      : null,
    feature.near_threshold
      ? h(
          'li',
          { class: 'near-threshold-note', attrs: { 'data-testid': 'near-threshold-note' } },
          "⚠ Near threshold: the shift is within the activation threshold's margin (JumpReLU / TopK), so this category is likely an artefact.",
        )
      : null,
  ];
  const shown = lines.filter((line): line is HTMLElement => line !== null);
  return shown.length ? h('ul', { class: 'feature-trust', attrs: { 'aria-label': 'Significance' } }, ...shown) : null;
}

function significanceLine(feature: ShiftedFeature, fdr: number | undefined): HTMLElement | null {
  if (feature.significant === undefined && feature.q_value === undefined && feature.p_value === undefined) return null;
  const verdict =
    feature.significant === undefined
      ? ''
      : feature.significant
        ? `significant${fdr !== undefined ? ` at FDR ${fdr}` : ''}`
        : `not significant${fdr !== undefined ? ` at FDR ${fdr}` : ''}`;
  const values = [
    feature.q_value !== undefined ? `q = ${formatStat(feature.q_value)}` : '',
    feature.p_value !== undefined ? `p = ${formatStat(feature.p_value)}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return h('li', { attrs: { 'data-testid': 'significance' } }, [verdict, values && `(${values})`].filter(Boolean).join(' '));
}

function interval(ci: [number, number] | undefined): string {
  return ci ? `${formatStat(ci[0] * 100)}–${formatStat(ci[1] * 100)}%` : 'n/a';
}
