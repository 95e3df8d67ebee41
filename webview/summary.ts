/** The plain-language findings above the chart (same sentences as the Markdown export). */
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { describeFindings, describeFineTuneComparison, findComparison, reportThresholds } from '../src/shared/reportFindings';
import { describeTrust } from '../src/shared/reportTrust';
import { h } from './dom';

export function renderSummary(report: SaeDiffReport): HTMLElement {
  const thresholds = reportThresholds(report);
  const several = report.comparisons.length > 1;
  return h(
    'section',
    { class: 'summary', attrs: { 'aria-label': 'Summary' } },
    report.comparisons.length === 0 ? h('p', {}, 'No layer has finished yet.') : null,
    ...report.comparisons.map((comparison) => {
      const lines = describeFindings(findComparison(comparison), thresholds);
      const trust = describeTrust(comparison, report);
      return h(
        'div',
        { class: 'summary-block' },
        several ? h('h3', {}, comparison.sft.name) : null,
        h('ul', {}, ...lines.map((line) => h('li', {}, line)), ...trust.map((line) => h('li', { class: 'trust-line' }, line))),
      );
    }),
    fineTunesCompared(report),
  );
}

function fineTunesCompared(report: SaeDiffReport): HTMLElement | null {
  const lines = describeFineTuneComparison(report);
  if (lines.length === 0) return null;
  return h('div', { class: 'summary-block' }, h('h3', {}, 'Fine-tunes compared'), h('ul', {}, ...lines.map((line) => h('li', {}, line))));
}
