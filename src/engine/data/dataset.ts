import * as fs from 'fs';
import * as path from 'path';
import { Template } from '@huggingface/jinja';
import { SaeDiffError } from '../errors';

export interface ChatMessage { role: string; content: string }
export type PromptRecord = { text: string } | { messages: ChatMessage[] };

/** Reads prompts: .jsonl with `text`, `prompt` or `messages` per line, or .txt with one prompt per line. */
export function readPrompts(file: string, maxSamples?: number): PromptRecord[] {
  if (!fs.existsSync(file)) throw new SaeDiffError(`Dataset not found: ${file}`, { location: { file, key: 'dataset.path' }, hint: 'Check dataset.path (relative paths resolve against the config file).' });
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split(/\r?\n/);
  const out: PromptRecord[] = [];
  const isJsonl = /\.jsonl?$/i.test(file);
  for (let i = 0; i < lines.length && (maxSamples === undefined || out.length < maxSamples); i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    if (!isJsonl) { out.push({ text: line }); continue; }
    let rec: any;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new SaeDiffError(`Line ${i + 1} is not valid JSON: ${(e as Error).message}`, { location: { file, line: i + 1, column: 1 }, hint: 'Each line must be one JSON object.' });
    }
    if (rec && typeof rec.text === 'string') out.push({ text: rec.text });
    else if (rec && typeof rec.prompt === 'string') out.push({ text: rec.prompt });
    else if (rec && Array.isArray(rec.messages) && rec.messages.every((m: any) => typeof m?.role === 'string' && typeof m?.content === 'string')) out.push({ messages: rec.messages });
    else throw new SaeDiffError(`Line ${i + 1} has no "text", "prompt" or "messages" field`, { location: { file, line: i + 1, column: 1 }, hint: 'Give each record a text or prompt string, or a messages list of {role, content}.' });
  }
  if (out.length === 0) {
    throw new SaeDiffError(`The dataset ${path.basename(file)} has no prompts`, { location: { file, key: 'dataset.path' }, hint: 'Add prompts (one JSON object per line for .jsonl, one prompt per line for .txt).' });
  }
  return out;
}

/** Renders chat records with a Jinja chat template; a trailing user turn gets the generation prompt. */
export function renderPrompt(rec: PromptRecord, template: Template | undefined, specialTokens: Record<string, string>, file: string): string {
  if ('text' in rec) return rec.text;
  if (!template) {
    throw new SaeDiffError('The dataset has chat messages but neither model\'s tokenizer_config.json has a chat_template', {
      location: { file, key: 'dataset.path' }, hint: 'Add a chat_template to tokenizer_config.json, or give prompts as text.',
    });
  }
  const last = rec.messages[rec.messages.length - 1];
  return template.render({ messages: rec.messages, add_generation_prompt: last?.role !== 'assistant', ...specialTokens });
}

export function compileTemplate(source: string, file: string): Template {
  try {
    return new Template(source);
  } catch (e) {
    throw new SaeDiffError(`The chat template does not parse: ${(e as Error).message}`, { location: { file, key: 'chat_template' } });
  }
}
