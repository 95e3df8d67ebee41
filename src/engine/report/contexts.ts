import type { ActivatingContext } from '../../shared/reportTypes';

const BEFORE = 8;
const AFTER = 3;

/** Renders a token in its prompt: a few tokens of text before and after it. */
export function renderContext(
  sequences: number[][],
  decode: (ids: number[]) => string,
  e: { activation: number; sample: number; position: number },
): ActivatingContext {
  const ids = sequences[e.sample];
  const from = Math.max(1, e.position - BEFORE); // never show the BOS marker
  return {
    activation: e.activation,
    sample: e.sample,
    position: e.position,
    before: decode(ids.slice(from, e.position)),
    token: decode([ids[e.position]]),
    after: decode(ids.slice(e.position + 1, e.position + 1 + AFTER)),
  };
}
