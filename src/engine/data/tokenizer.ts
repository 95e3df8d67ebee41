import * as fs from 'fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { SaeDiffError } from '../errors';
import { readJson } from '../model/modelFolder';

/** A model's tokenizer (tokenizer.json + tokenizer_config.json) and what the run needs of it. */
export interface LoadedTokenizer {
  file: string;
  /** tokenizer_config.json, where the chat template comes from. */
  configFile?: string;
  encode(text: string): number[];
  decode(ids: number[]): string;
  padId: number;
  bosId?: number;
  chatTemplate?: string;
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
  const json = fs.readFileSync(tokenizerJsonPath, 'utf8');
  let parsed: object;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new SaeDiffError(`tokenizer.json is not valid JSON: ${(e as Error).message}`, { location: { file: tokenizerJsonPath } });
  }
  const config = (tokenizerConfigPath ? readJson(tokenizerConfigPath) : {}) as Record<string, unknown>;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(parsed, config);
  } catch (e) {
    throw new SaeDiffError(`Cannot load the tokenizer: ${(e as Error).message}`, { location: { file: tokenizerJsonPath }, hint: 'Save it again with tokenizer.save_pretrained().' });
  }
  const specialTokens: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const text = tokenText(config[key]);
    if (text !== undefined) specialTokens[key] = text;
  }
  const idOf = (key: string) => (specialTokens[key] !== undefined ? tok.token_to_id(specialTokens[key]) : undefined);
  const padId = idOf('pad_token') ?? idOf('eos_token') ?? 0;
  let chatTemplate: string | undefined;
  const ct = config.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) chatTemplate = (ct.find((t) => t?.name === 'default') ?? ct[0])?.template;
  return {
    file: tokenizerJsonPath,
    configFile: tokenizerConfigPath,
    encode: (text) => tok.encode(text).ids,
    decode: (ids) => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: false })),
    padId,
    bosId: idOf('bos_token'),
    chatTemplate,
    specialTokens,
    fingerprint: json,
  };
}
