/** Banners that change how the whole report should be read: a failed SAE self-check, tokenizer/template parity warnings. */
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { SELF_CHECK_FAILED_TEXT, selfCheckFailures } from '../src/shared/reportTrust';
import { h } from './dom';

/** Shown above everything else when run.self_check_failed: the numbers below may describe the wrong thing. */
export function renderSelfCheckBanner(report: SaeDiffReport): HTMLElement | null {
  if (!report.run?.self_check_failed) return null;
  const failures = selfCheckFailures(report);
  return h(
    'div',
    { class: 'self-check-banner', attrs: { role: 'alert', 'data-testid': 'self-check-banner' } },
    h('p', {}, h('b', {}, SELF_CHECK_FAILED_TEXT)),
    failures.length > 0
      ? h(
          'ul',
          {},
          ...failures.map((failure) =>
            h(
              'li',
              { attrs: { 'data-layer': failure.layer } },
              h('b', {}, `Layer ${failure.layer}: `),
              failure.messages.length ? failure.messages.join(' ') : 'failed (no message).',
            ),
          ),
        )
      : null,
  );
}

/** Base and fine-tune tokenise or template differently: token-aligned comparisons may be off. */
export function renderParityBanner(report: SaeDiffReport): HTMLElement | null {
  const warnings = report.run?.parity_warnings ?? [];
  if (warnings.length === 0) return null;
  return h(
    'div',
    { class: 'parity-banner', attrs: { role: 'status', 'data-testid': 'parity-banner' } },
    h('b', {}, 'Base and fine-tune are not fed alike:'),
    h('ul', {}, ...warnings.map((warning) => h('li', {}, '⚠ ', warning))),
  );
}
