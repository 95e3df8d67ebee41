/**
 * One dataset record as a prompt: the record shapes fine-tuning datasets come in, read as the tools that train on
 * them read them.
 * - `text`, or `prompt` as a string (TRL's prompt-completion: the completion is not evaluated) unless the record has
 *   `messages` too (HuggingFaceH4's ultrachat_200k and no_robots: the prompt is the first user turn of them);
 * - `messages` (OpenAI / TRL conversational), or `prompt` as a list of messages (TRL's conversational
 *   prompt-completion: again the prompt only);
 * - ShareGPT `conversations` of {from, value} (LLaMA-Factory's and axolotl's sharegpt: human -> user, gpt ->
 *   assistant, system; `user` / `assistant` too), after an optional `system` string; `conversations` or
 *   `conversation` (lmsys-chat-1m) of {role, content} are read as messages;
 * - Alpaca `instruction` [+ `input`] [+ `output`] [+ `system`, `history`], as LLaMA-Factory's
 *   AlpacaDatasetConverter builds the conversation: each [query, response] of `history`, then the user turn
 *   instruction + "\n" + input (input only when non-empty), then the assistant's output.
 * Chat shapes become messages, rendered later with the model's chat template.
 */

export interface ChatMessage {
  role: string;
  content: string;
}
export type PromptRecord = { text: string } | { messages: ChatMessage[] };

/** What each accepted shape needs, for errors. */
export const RECORD_SHAPES = 'a "text" or "prompt" string, a "messages" list, ShareGPT "conversations" or an Alpaca "instruction"';
/** The hint of a record (a Parquet row: `unit` row) toPromptRecord refused; its message names dataset.field already. */
export function recordHint(field: string | undefined, unit: 'record' | 'row' = 'record'): string {
  return field === undefined ? `Give each ${unit} ${RECORD_SHAPES}.` : `Give every ${unit} a "${field}", or change dataset.field.`;
}

/**
 * `content` as a string, or as a list of text parts ({type: "text", text} or strings) as OpenAI-style
 * chat datasets write it; the parts are joined with "\n", as vLLM does for text-only models
 * (vllm/entrypoints/chat_utils.py). Any other part (an image…) is not text: undefined.
 */
function messageText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts: string[] = [];
  for (const p of content) {
    if (typeof p === 'string') parts.push(p);
    else if (p && typeof p === 'object' && (p.type === 'text' || p.type === undefined) && typeof p.text === 'string') parts.push(p.text);
    else return undefined;
  }
  return parts.join('\n');
}

/** A list of {role, content} messages, or what is wrong with it (`field` names the list in the message). */
function messagesOf(list: unknown[], field: string): ChatMessage[] | string {
  if (list.length === 0) return `has an empty ${field} list`;
  const out: ChatMessage[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as { role?: unknown; content?: unknown } | null;
    const content = m ? messageText(m.content) : undefined;
    if (!m || typeof m.role !== 'string' || content === undefined)
      return `has a ${field} entry ${i} without a string role and a text content (a string, or a list of {type: "text", text} parts)`;
    out.push({ role: m.role, content });
  }
  return out;
}

/** A record's keys for an error: the first 12, quoted. */
function keysOf(rec: Record<string, unknown>): string {
  const keys = Object.keys(rec);
  if (keys.length === 0) return 'none';
  return (
    keys
      .slice(0, 12)
      .map((k) => JSON.stringify(k))
      .join(', ') + (keys.length > 12 ? `, … (${keys.length} in all)` : '')
  );
}

/** ShareGPT's speaker tags (LLaMA-Factory's defaults human / gpt / system, and the role names some exports use). */
const SHAREGPT_ROLES: Record<string, string> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system' };

function shareGpt(rec: Record<string, unknown>, turns: unknown[]): ChatMessage[] | string {
  if (turns.length === 0) return 'has an empty conversations list';
  const out: ChatMessage[] = typeof rec.system === 'string' && rec.system ? [{ role: 'system', content: rec.system }] : [];
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i] as { from?: unknown; value?: unknown } | null;
    if (!t || typeof t.from !== 'string' || typeof t.value !== 'string')
      return `has a conversations entry ${i} without a string speaker and text (its from and value keys)`;
    const role = SHAREGPT_ROLES[t.from];
    if (!role)
      return `has a conversations entry ${i} whose speaker is "${t.from}": tool turns (function_call, observation) and other speakers are not rendered (human, gpt and system are)`;
    out.push({ role, content: t.value });
  }
  return out;
}

function alpaca(rec: Record<string, unknown>): ChatMessage[] | string {
  const out: ChatMessage[] = typeof rec.system === 'string' && rec.system ? [{ role: 'system', content: rec.system }] : [];
  if (rec.history !== undefined && rec.history !== null) {
    const pairs = rec.history;
    if (!Array.isArray(pairs) || pairs.some((p) => !Array.isArray(p) || p.length !== 2 || p.some((s) => typeof s !== 'string')))
      return 'has a "history" that is not a list of [query, response] string pairs';
    for (const [query, response] of pairs as [string, string][])
      out.push({ role: 'user', content: query }, { role: 'assistant', content: response });
  }
  for (const key of ['input', 'output'])
    if (rec[key] !== undefined && rec[key] !== null && typeof rec[key] !== 'string') return `has an Alpaca "${key}" that is not a string`;
  const query = typeof rec.input === 'string' && rec.input ? `${rec.instruction}\n${rec.input}` : (rec.instruction as string);
  out.push({ role: 'user', content: query });
  if (typeof rec.output === 'string' && rec.output) out.push({ role: 'assistant', content: rec.output });
  return out;
}

/**
 * A parsed record as a prompt, or what is wrong with it (a phrase after "Record N"/"Line N"). With `field`
 * (dataset.field), the prompt is that key's value alone: a string, or a list of chat messages.
 */
export function toPromptRecord(value: unknown, field?: string): PromptRecord | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a JSON object';
  const rec = value as Record<string, unknown>;
  if (field !== undefined) {
    const v = rec[field];
    if (typeof v === 'string') return { text: v };
    if (Array.isArray(v)) {
      const messages = messagesOf(v, `"${field}"`);
      return typeof messages === 'string' ? messages : { messages };
    }
    return v === undefined || v === null
      ? `has no "${field}" (dataset.field); its keys are ${keysOf(rec)}`
      : `has a "${field}" (dataset.field) that is neither a string nor a list of chat messages`;
  }
  if (typeof rec.text === 'string') return { text: rec.text };
  // a whole conversation wins over a bare prompt string: HuggingFaceH4's ultrachat_200k and no_robots rows hold both
  // (prompt: the first user turn; messages: what the chat fine-tune trains on)
  if (typeof rec.prompt === 'string' && !Array.isArray(rec.messages)) return { text: rec.prompt };
  let messages: ChatMessage[] | string | undefined;
  if (Array.isArray(rec.messages)) messages = messagesOf(rec.messages, 'messages');
  else if (Array.isArray(rec.prompt)) messages = messagesOf(rec.prompt, 'prompt');
  else if (Array.isArray(rec.conversations) || Array.isArray(rec.conversation)) {
    // ShareGPT's {from, value} turns, or {role, content} ones under that name (lmsys-chat-1m's `conversation`)
    const key = Array.isArray(rec.conversations) ? 'conversations' : 'conversation';
    const turns = rec[key] as unknown[];
    const openAi = turns.length > 0 && turns.every((t) => t !== null && typeof t === 'object' && 'role' in t);
    messages = openAi ? messagesOf(turns, key) : shareGpt(rec, turns);
  } else if (typeof rec.instruction === 'string') messages = alpaca(rec);
  if (messages === undefined)
    return `has no prompt field (${RECORD_SHAPES}); its keys are ${keysOf(rec)}, and dataset.field can name the one that holds the prompt`;
  return typeof messages === 'string' ? messages : { messages };
}
