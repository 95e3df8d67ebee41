/**
 * What every number, flag and trust figure in a report means, and the rule behind it: the panel's tooltips and
 * glossary section. The texts are written once, in docs/metrics.md's "## Glossary" section; scripts/glossary.mjs
 * turns them into glossary.generated.ts at build time (test/glossary.test.ts fails while that file is stale).
 * No DOM or vscode imports.
 *
 * Notation: T is the evaluated token set (every unmasked position except position 0, the BOS token, by
 * default); h_b, h_s the hooked residual of base and fine-tune; z_b, z_s their SAE activations; r_b, r_s
 * the SAE reconstructions; A(t) the active features, K(t) the top-k active features.
 */
import { GLOSSARY_ENTRIES, type GlossaryEntry } from './glossary.generated';

export type { GlossaryEntry };

export const GLOSSARY: readonly GlossaryEntry[] = GLOSSARY_ENTRIES;

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
