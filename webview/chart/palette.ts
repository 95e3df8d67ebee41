/**
 * Colour-blind-safe colours (Okabe & Ito 2008) for categories and fine-tunes, with a marker shape per
 * category so the plots read without colour too. Fixed, not themed: they stay distinguishable on light,
 * dark and high-contrast backgrounds.
 */
export const CATEGORY_STYLE: Record<string, { color: string; point: 'circle' | 'triangle' | 'rect' | 'crossRot' }> = {
  emerged: { color: '#009E73', point: 'triangle' },
  vanished: { color: '#D55E00', point: 'crossRot' },
  amplified: { color: '#56B4E9', point: 'circle' },
  suppressed: { color: '#E69F00', point: 'rect' },
};
/** A category a newer engine wrote: shown, in grey. */
export const OTHER_CATEGORY = { color: '#999999', point: 'circle' as const };

/** Fine-tunes in small multiples and comparisons. */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#F0E442', '#000000'];
