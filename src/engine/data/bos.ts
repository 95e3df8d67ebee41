/**
 * dataset.prepend_bos: a BOS token in front of each prompt that does not start with one. SAELens trains on windows
 * that begin with the tokenizer's BOS when its prepend_bos is set (its default; activations_store.py
 * concat_and_batch_sequences' begin_batch_token_id), as TransformerLens' to_tokens prepends it; a tokenizer such as
 * GPT-2's adds none, so its prompts would reach the SAE without the token every training window began with.
 */
import type { PrependBos } from '../config/types';
import { SaeDiffError, type SourceLocation } from '../core/errors';

export interface BosChoice {
  /** The token id to put first, or undefined: the prompts stay as tokenised. */
  id?: number;
  /** Its text (the tokenizer's bos_token), with `id`. */
  token?: string;
  /** Why, for the log. */
  why: string;
}

/**
 * `saesSay`: per target layer, whether its SAE's training windows began with BOS (undefined: the SAE does not say).
 * auto prepends when at least one SAE says so and none says otherwise.
 */
export function bosToPrepend(
  setting: PrependBos,
  saesSay: readonly (boolean | undefined)[],
  tokenizer: { bosId?: number; specialTokens: Record<string, string | undefined> },
  location: SourceLocation,
): BosChoice {
  if (setting === 'never') return { why: 'dataset.prepend_bos never' };
  const bos = tokenizer.specialTokens.bos_token;
  if (tokenizer.bosId === undefined) {
    if (setting === 'always')
      throw new SaeDiffError("dataset.prepend_bos is always, but the base's tokenizer has no bos_token", {
        location,
        hint: 'Set bos_token in tokenizer_config.json, or set dataset.prepend_bos to auto or never.',
      });
    return { why: "the base's tokenizer has no bos_token" };
  }
  if (setting === 'always') return { id: tokenizer.bosId, token: bos, why: `dataset.prepend_bos always (${bos})` };
  const trained = saesSay.some((s) => s === true) && !saesSay.some((s) => s === false);
  return trained
    ? { id: tokenizer.bosId, token: bos, why: `the SAEs were trained on windows that begin with BOS (SAELens prepend_bos): ${bos}` }
    : { why: 'the SAEs do not say they were trained with BOS first' };
}

/** The sequences with `bos` first where it is not, each still at most `maxTokens` long; how many changed. */
export function withBos(sequences: number[][], bos: number, maxTokens: number): { sequences: number[][]; added: number } {
  let added = 0;
  const out = sequences.map((s) => {
    if (s[0] === bos) return s;
    added++;
    return [bos, ...s].slice(0, maxTokens);
  });
  return { sequences: out, added };
}
