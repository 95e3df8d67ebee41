/**
 * Chat templates render as transformers renders them: real models' templates (test/fixtures/chat-templates, from
 * llama.cpp's copies of their tokenizer configs) against transformers 5.18's apply_chat_template output
 * (chat_template_fixtures.py), and the variables render_jinja_template defines.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { SaeDiffError } from '../src/engine/core/errors';
import { compileTemplate, renderPrompt } from '../src/engine/data/dataset';
import type { ChatMessage } from '../src/engine/data/promptRecords';
import { REPO_ROOT } from './helpers/paths';

const FOLDER = path.join(REPO_ROOT, 'test', 'fixtures', 'chat-templates');

interface Expected {
  conversations: Record<string, ChatMessage[]>;
  templates: Record<string, { special_tokens: Record<string, string>; rendered: Record<string, string> }>;
}
const expected = JSON.parse(fs.readFileSync(path.join(FOLDER, 'expected.json'), 'utf8')) as Expected;

for (const [name, { special_tokens, rendered }] of Object.entries(expected.templates)) {
  test(`${name} renders every conversation as transformers' apply_chat_template does`, () => {
    const file = path.join(FOLDER, name);
    const template = compileTemplate(fs.readFileSync(file, 'utf8'), file);
    for (const [what, messages] of Object.entries(expected.conversations))
      assert.equal(renderPrompt({ messages }, template, special_tokens, file), rendered[what], what);
  });
}

test('tools and documents are defined as none, as render_jinja_template passes them', () => {
  // transformers 5.18 renders this 'DN|D': tools=None and documents=None are defined
  const probe = compileTemplate(
    '{% if tools is defined %}D{% else %}U{% endif %}{% if tools is none %}N{% endif %}{% if tools is not none %}X{% endif %}|{% if documents is defined %}D{% else %}U{% endif %}',
    'probe',
  );
  assert.equal(renderPrompt({ messages: [{ role: 'user', content: 'x' }] }, probe, {}, 'probe'), 'DN|D');
});

test("a template's own raise_exception stops the run naming the template, the prompt and the dataset", () => {
  // Gemma 2 and 3's templates raise this on a system turn, as they do in transformers
  const gemmaLike = compileTemplate(
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}",
    'chat_template.jinja',
  );
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi.' },
  ];
  assert.equal(renderPrompt({ messages: messages.slice(1) }, gemmaLike, {}, 'd.jsonl'), 'Hi.');
  assert.throws(
    () => renderPrompt({ messages }, gemmaLike, {}, 'd.jsonl', { templateFile: 'gemma/chat_template.jinja', index: 2 }),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      e.message === 'The chat template cannot render prompt 3 of d.jsonl: System role not supported' &&
      e.location?.file === 'gemma/chat_template.jinja' &&
      /dataset\.chat_template_from/.test(e.hint ?? ''),
  );
});
