import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer } from '@huggingface/tokenizers';
import { SaeDiffError } from '../core/errors';
import { parseJsonFinite, READ_CAPS, readTextBounded } from '../io/boundedRead';
import { readJson } from '../model/modelFolder';
import { findChatTemplate } from './chatTemplate';

/** A model's tokenizer (tokenizer.json + tokenizer_config.json) and what the run needs of it. */
export interface LoadedTokenizer {
  file: string;
  /** tokenizer_config.json. */
  configFile?: string;
  encode(text: string): number[];
  decode(ids: number[]): string;
  padId: number;
  bosId?: number;
  chatTemplate?: string;
  /** Where the chat template was read (chatTemplate.ts: chat_template.jinja, tokenizer_config.json, chat_template.json). */
  chatTemplateFile?: string;
  specialTokens: Record<string, string>;
  /** tokenizer.json as text, to compare base and fine-tune tokenizers. */
  fingerprint: string;
}

function tokenText(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') return (t as { content: string }).content;
  return undefined;
}

const ENDOFTEXT = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
/**
 * Tokenizer classes' default special tokens (transformers 5.18 tokenization_gpt2.py, tokenization_gpt_neox.py; the 4.x
 * Fast classes alike), by class name, and the class AutoTokenizer picks by model_type when tokenizer_config.json
 * names none (TOKENIZER_MAPPING_NAMES).
 */
const CLASS_SPECIAL_TOKENS: Record<string, Record<string, string>> = {
  GPT2Tokenizer: ENDOFTEXT,
  GPT2TokenizerFast: ENDOFTEXT,
  GPTNeoXTokenizer: { ...ENDOFTEXT, pad_token: '<|padding|>' },
  GPTNeoXTokenizerFast: { ...ENDOFTEXT, pad_token: '<|padding|>' },
};
const CLASS_BY_MODEL_TYPE: Record<string, string> = { gpt2: 'GPT2Tokenizer', gpt_neox: 'GPTNeoXTokenizer' };

/**
 * The special tokens as transformers' from_pretrained sets them: tokenizer_config.json's, else special_tokens_map.json's
 * (beside tokenizer.json), else the tokenizer class's defaults. openai-community/gpt2's tokenizer_config.json is
 * {"model_max_length": 1024}: its <|endoftext|> BOS comes from GPT2Tokenizer's defaults.
 */
export function specialTokensOf(config: Record<string, unknown>, dir: string, modelType: string | undefined): Record<string, string> {
  const mapFile = path.join(dir, 'special_tokens_map.json');
  const map = fs.existsSync(mapFile) ? (readJson(mapFile) as Record<string, unknown>) : {};
  const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : modelType && CLASS_BY_MODEL_TYPE[modelType];
  const defaults = (cls && CLASS_SPECIAL_TOKENS[cls]) || {};
  const out: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    // a key set to null in tokenizer_config.json means none, as in transformers
    if (key in config && config[key] === null) continue;
    const text = tokenText(config[key]) ?? tokenText(map && typeof map === 'object' ? map[key] : undefined) ?? defaults[key];
    if (text !== undefined) out[key] = text;
  }
  return out;
}

/** `modelType`: config.json's model_type, for the tokenizer class's default special tokens (specialTokensOf). */
export function loadTokenizer(tokenizerJsonPath: string, tokenizerConfigPath?: string, modelType?: string): LoadedTokenizer {
  const json = readTextBounded(tokenizerJsonPath, READ_CAPS.tokenizer);
  let parsed: object;
  try {
    parsed = parseJsonFinite(tokenizerJsonPath, json) as object;
  } catch (e) {
    throw new SaeDiffError(`tokenizer.json: ${(e as Error).message}`, { location: { file: tokenizerJsonPath } });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new SaeDiffError('tokenizer.json is not a JSON object', { location: { file: tokenizerJsonPath } });
  const config = (tokenizerConfigPath ? readJson(tokenizerConfigPath) : {}) as Record<string, unknown>;
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new SaeDiffError('tokenizer_config.json is not a JSON object', { location: { file: tokenizerConfigPath! } });
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(parsed, config);
  } catch (e) {
    throw new SaeDiffError(`Cannot load the tokenizer: ${(e as Error).message}`, {
      location: { file: tokenizerJsonPath },
      hint: 'Save it again with tokenizer.save_pretrained().',
    });
  }
  const specialTokens = specialTokensOf(config, path.dirname(tokenizerJsonPath), modelType);
  const idOf = (key: string) => (specialTokens[key] !== undefined ? tok.token_to_id(specialTokens[key]) : undefined);
  const padId = idOf('pad_token') ?? idOf('eos_token') ?? 0;
  const chat = findChatTemplate(path.dirname(tokenizerConfigPath ?? tokenizerJsonPath), config, tokenizerConfigPath);
  return {
    file: tokenizerJsonPath,
    configFile: tokenizerConfigPath,
    encode: (text) => tok.encode(text).ids,
    decode: (ids) => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: false })),
    padId,
    bosId: idOf('bos_token'),
    chatTemplate: chat?.template,
    chatTemplateFile: chat?.file,
    specialTokens,
    fingerprint: json,
  };
}
