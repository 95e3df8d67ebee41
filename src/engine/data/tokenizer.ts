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

export function loadTokenizer(tokenizerJsonPath: string, tokenizerConfigPath?: string): LoadedTokenizer {
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
  const specialTokens: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const text = tokenText(config[key]);
    if (text !== undefined) specialTokens[key] = text;
  }
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
