import * as fs from 'fs';
import type { ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { shardSamples } from '../data/batching';
import { bosToPrepend, withBos } from '../data/bos';
import { compileTemplate, cutRecord, encodeCapped, renderPrompt } from '../data/dataset';
import { readDatasetPrompts, resolveDataset, type DatasetSource } from '../data/datasetSource';
import type { PromptRecord } from '../data/promptRecords';
import { parityWarnings } from '../data/parity';
import { loadTokenizer, LoadedTokenizer } from '../data/tokenizer';
import type { ModelFiles } from '../model/modelFolder';
import { everyModel, type RunModels } from './models';

export interface Tokenised {
  tokenizer: LoadedTokenizer;
  records: PromptRecord[];
  /** Token ids per dataset index. */
  sequences: number[][];
  /** Dataset indices this run evaluates (all, or one shard's slice). */
  samples: number[];
  /** Tokenizer / template differences between base and the fine-tunes (also in `warnings`). */
  parity: string[];
  /** The BOS dataset.prepend_bos put first, and in how many prompts (none: undefined). */
  bosPrepended?: { token: string; prompts: number };
  seconds: number;
}

/**
 * The files dataset.path names (a file, or a folder's or cached hub dataset's split), resolved before anything is
 * loaded so that a dataset that is not there stops the run at once; its errors point at the config's dataset.path.
 */
export function datasetSourceOf(config: ResolvedConfig): DatasetSource {
  try {
    const source = resolveDataset(config.dataset);
    if (!fs.existsSync(source.files[0]))
      throw new SaeDiffError(`Dataset not found: ${source.files[0]}`, {
        hint: 'Check dataset.path (relative paths resolve against the config file).',
      });
    return source;
  } catch (e) {
    if (!(e instanceof SaeDiffError)) throw e;
    throw new SaeDiffError(e.message, { location: config.locate('dataset.path'), hint: e.hint });
  }
}

/**
 * GPT-2 learns one position embedding per position up to n_positions (wpe): a longer prompt has none past it, where
 * transformers and ONNX Runtime fail with an index error. Said here, naming the key that shortens the prompts.
 */
function checkLearnedPositions(config: ResolvedConfig, files: RunModels<ModelFiles>, sequences: number[][]): void {
  const longest = sequences.reduce((m, s) => Math.max(m, s.length), 0);
  for (const model of everyModel(files)) {
    const c = model.configJson as Record<string, unknown>;
    const limit = c.model_type === 'gpt2' ? (c.n_positions ?? c.max_position_embeddings) : undefined;
    if (typeof limit === 'number' && longest > limit)
      throw new SaeDiffError(
        `A prompt has ${longest} tokens, but ${model.spec.name} has position embeddings for ${limit} (n_positions in ${model.configPath})`,
        { location: config.locate('runtime.max_tokens'), hint: `Set runtime.max_tokens to ${limit} or less.` },
      );
  }
}

/**
 * Step "tokenise": the dataset streamed up to max_samples, rendered with the chat template
 * (dataset.chat_template_from), encoded with base's tokenizer and capped at max_tokens; the parity of the
 * fine-tunes' tokenizers checked; this run's slice (shard) chosen.
 */
export async function tokenise(
  config: ResolvedConfig,
  source: DatasetSource,
  files: RunModels<ModelFiles>,
  shard: { index: number; count: number } | undefined,
  signal: AbortSignal | undefined,
  warnings: string[],
  log: (line: string) => void,
  /** Per target layer, whether its SAE was trained on windows that begin with BOS (dataset.prepend_bos auto). */
  saesSayBos: readonly (boolean | undefined)[] = [],
): Promise<Tokenised> {
  const tt = performance.now();
  const modelType = (f: ModelFiles) => (typeof f.configJson.model_type === 'string' ? f.configJson.model_type : undefined);
  const tokenizer = loadTokenizer(files.base.tokenizerJsonPath, files.base.tokenizerConfigPath, modelType(files.base));
  const sftTokenizers = files.fineTunes.map((f) => loadTokenizer(f.tokenizerJsonPath, f.tokenizerConfigPath, modelType(f)));
  const from = config.dataset.chatTemplateFrom;
  const templateOwner =
    from === 'base' ? tokenizer : from === 'sft' ? sftTokenizers[0] : [tokenizer, ...sftTokenizers].find((t) => t.chatTemplate);
  const templateFile = templateOwner?.chatTemplateFile ?? templateOwner?.file ?? '';
  const template = templateOwner?.chatTemplate ? compileTemplate(templateOwner.chatTemplate, templateFile) : undefined;
  const maxTokens = config.runtime.max_tokens;
  // streamed up to max_samples; each record cut to a character bound before it is encoded
  if (source.files.length > 1 || config.dataset.hubId) log(`dataset: ${source.label}`);
  const records = (await readDatasetPrompts(config.dataset, source, config.dataset.maxSamples, signal)).map((r) => cutRecord(r, maxTokens));
  const encoded = records.map((r, index) =>
    encodeCapped(tokenizer.encode, renderPrompt(r, template, tokenizer.specialTokens, source.files[0], { templateFile, index }), maxTokens),
  );
  const bos = bosToPrepend(config.dataset.prependBos, saesSayBos, tokenizer, config.locate('dataset.prepend_bos'));
  const prepended = bos.id === undefined ? { sequences: encoded, added: 0 } : withBos(encoded, bos.id, maxTokens);
  const sequences = prepended.sequences;
  if (prepended.added > 0) log(`BOS put first in ${prepended.added} of ${sequences.length} prompts: ${bos.why}`);
  checkLearnedPositions(config, files, sequences);
  const parity = parityWarnings(
    tokenizer,
    sftTokenizers.map((t, i) => ({ name: files.fineTunes[i].spec.name, tokenizer: t })),
    sequences,
  );
  for (const w of parity) {
    warnings.push(w);
    log(`warning: ${w}`);
  }
  const samples = shardSamples(sequences.length, shard);
  const evaluatedIn = (ids: number[]) =>
    ids.reduce((a, i) => a + Math.max(0, sequences[i].length - (config.dataset.excludeBos ? 1 : 0)), 0);
  const evaluated = evaluatedIn(samples);
  // a shard past the last prompt (more shards than prompts) writes an empty partial report that merges
  if (evaluated === 0 && (!shard || evaluatedIn(sequences.map((_, i) => i)) === 0)) {
    throw new SaeDiffError('No token to evaluate: every prompt is empty after tokenization', {
      location: { file: config.dataset.path, key: 'dataset.path' },
      hint: 'Give prompts with text.',
    });
  }
  if (template && records.some((r) => 'messages' in r)) log(`chat template from ${templateOwner!.configFile}`);
  log(
    `dataset: ${records.length} prompts${shard ? `, shard ${shard.index + 1}/${shard.count}: prompts ${samples[0] ?? '-'}-${samples[samples.length - 1] ?? '-'}` : ''}, ${evaluated} evaluated tokens (max_tokens ${maxTokens})`,
  );
  const bosPrepended = prepended.added > 0 ? { token: bos.token!, prompts: prepended.added } : undefined;
  return { tokenizer, records, sequences, samples, parity, bosPrepended, seconds: (performance.now() - tt) / 1000 };
}
