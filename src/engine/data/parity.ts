import type { LoadedTokenizer } from './tokenizer';

/**
 * What can make base and fine-tune see different inputs: different tokenizers, chat templates or special
 * tokens, or prompts that start with two BOS tokens (a template that adds one plus the tokenizer's own).
 */
export function parityWarnings(
  base: LoadedTokenizer,
  sfts: { name: string; tokenizer: LoadedTokenizer }[],
  sequences: number[][],
): string[] {
  const warnings: string[] = [];
  for (const { name, tokenizer } of sfts) {
    if (tokenizer.fingerprint !== base.fingerprint)
      warnings.push(`The tokenizer of ${name} differs from the base's; prompts are tokenized with the base tokenizer.`);
    if (base.chatTemplate && tokenizer.chatTemplate && base.chatTemplate !== tokenizer.chatTemplate) {
      warnings.push(`The chat templates of base and ${name} differ; chat prompts are rendered with one template for both models.`);
    }
    const keys = new Set([...Object.keys(base.specialTokens), ...Object.keys(tokenizer.specialTokens)]);
    const differing = [...keys].filter((k) => base.specialTokens[k] !== tokenizer.specialTokens[k]);
    if (differing.length > 0) {
      warnings.push(
        `Special tokens of base and ${name} differ: ${differing.map((k) => `${k} ${JSON.stringify(base.specialTokens[k] ?? null)} vs ${JSON.stringify(tokenizer.specialTokens[k] ?? null)}`).join(', ')}.`,
      );
    }
  }
  if (base.bosId !== undefined) {
    const doubled = sequences.filter((s) => s.length >= 2 && s[0] === base.bosId && s[1] === base.bosId).length;
    if (doubled > 0)
      warnings.push(
        `${doubled} of ${sequences.length} prompts start with two BOS tokens (the chat template adds one and the tokenizer another); position 1 then behaves like an attention sink.`,
      );
  }
  return warnings;
}
