/**
 * A tokenizer's chat template, where transformers keeps it (tokenization_utils_base.py: from_pretrained reads
 * `chat_template.jinja`, which save_pretrained writes since transformers 4.5x and 5 always, and it takes priority
 * over tokenizer_config.json's `chat_template`, a string or a list of named templates whose "default" is used).
 * A processor's `chat_template.json` ({"chat_template": "..."}, saved beside multimodal models such as Gemma 3 4B+)
 * is read last, as their AutoProcessor renders conversations with it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../core/errors';
import { READ_CAPS, readJsonBounded, readTextBounded } from '../io/boundedRead';

export const CHAT_TEMPLATE_JINJA = 'chat_template.jinja';
export const PROCESSOR_CHAT_TEMPLATE = 'chat_template.json';

export interface ChatTemplateSource {
  template: string;
  /** The file it was read from, for errors. */
  file: string;
}

/** The template in tokenizer_config.json's `chat_template` value (a string, or [{name, template}]). */
function fromConfigValue(ct: unknown): string | undefined {
  if (typeof ct === 'string') return ct;
  if (Array.isArray(ct)) {
    const named = ct as { name?: unknown; template?: unknown }[];
    const chosen = named.find((t) => t?.name === 'default') ?? named[0];
    return typeof chosen?.template === 'string' ? chosen.template : undefined;
  }
  return undefined;
}

/**
 * The chat template of the tokenizer in `folder`, whose tokenizer_config.json (`configFile`, already parsed as
 * `config`) may hold one; undefined when there is none.
 */
export function findChatTemplate(folder: string, config: Record<string, unknown>, configFile?: string): ChatTemplateSource | undefined {
  const jinja = path.join(folder, CHAT_TEMPLATE_JINJA);
  if (fs.existsSync(jinja)) return { template: readTextBounded(jinja, READ_CAPS.config), file: jinja };
  const inConfig = fromConfigValue(config.chat_template);
  if (inConfig !== undefined && configFile) return { template: inConfig, file: configFile };
  const processor = path.join(folder, PROCESSOR_CHAT_TEMPLATE);
  if (fs.existsSync(processor)) {
    const p = readJsonBounded(processor, READ_CAPS.config) as { chat_template?: unknown } | null;
    const template = fromConfigValue(p?.chat_template);
    if (template === undefined)
      throw new SaeDiffError(`${PROCESSOR_CHAT_TEMPLATE} has no chat_template string`, {
        location: { file: processor, key: 'chat_template' },
        hint: `Save the processor again, or put the template in ${CHAT_TEMPLATE_JINJA}.`,
      });
    return { template, file: processor };
  }
  return undefined;
}
