/** The glossary section: every metric, flag and trust figure with its definition and rule (src/shared/glossary.ts, mirrored in docs/metrics.md). */
import { GLOSSARY, type GlossaryEntry } from '../src/shared/glossary';
import { h } from './dom';

const GROUPS: { group: GlossaryEntry['group']; title: string }[] = [
  { group: 'layer metric', title: 'Layer metrics' },
  { group: 'layer flag', title: 'Layer flags' },
  { group: 'feature statistic', title: 'Feature statistics' },
  { group: 'feature category', title: 'Feature categories' },
  { group: 'trust figure', title: 'How far to trust a number' },
  { group: 'feature detail', title: 'Feature page' },
];

export function renderGlossary(): HTMLElement {
  return h(
    'details',
    { class: 'glossary', attrs: { 'data-testid': 'glossary' } },
    h('summary', {}, 'Glossary: what each number means and when a flag is raised'),
    ...GROUPS.map(({ group, title }) =>
      h(
        'section',
        {},
        h('h3', {}, title),
        h(
          'dl',
          {},
          ...GLOSSARY.filter((e) => e.group === group).flatMap((entry) => [
            h(
              'dt',
              { attrs: { id: `glossary-${group.replace(' ', '-')}-${entry.key}`, 'data-key': entry.key } },
              entry.name,
              ' ',
              h('code', {}, entry.key),
            ),
            h('dd', {}, entry.definition, entry.rule ? h('span', { class: 'rule' }, ' ', entry.rule) : null),
          ]),
        ),
      ),
    ),
  );
}
