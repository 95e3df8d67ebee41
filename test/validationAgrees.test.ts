import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { validateConfigText } from '../src/engine/authoring/index';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('validation-agrees');
const codes = (cfg: string) => validateConfigText(fs.readFileSync(cfg, 'utf8'), cfg).diagnostics;

test('a chat dataset with no chat template anywhere fails validation, as it fails the run', () => {
  const cfg = writeConfig(
    dir,
    'no-template.sae-diff.yaml',
    fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      layers: '{ target_indices: [1] }',
      dataset: '{ path: "@/eval/chat.jsonl", max_samples: 4 }',
    }),
  );
  const d = codes(cfg).find((x) => x.code === 'dataset-no-chat-template');
  assert.ok(d, JSON.stringify(codes(cfg)));
  assert.equal(d.severity, 'error');
  const r = runCli(['run', cfg, '--out', path.join(dir, 'no-template.json'), '--quiet']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /chat messages but neither model's tokenizer has a chat template/);
  // the refusal fine-tune has one: no diagnostic
  const ok = writeConfig(dir, 'template.sae-diff.yaml', fixtureConfig({ layers: '{ target_indices: [1] }' }));
  assert.ok(!codes(ok).some((x) => x.code === 'dataset-no-chat-template'));
});

test('a chat record the template refuses (a system turn on a Gemma-style template) fails validation, as it fails the run', () => {
  // base's own template, which raises as Gemma 2 and 3's do on a system turn
  const base = path.join(dir, 'gemma-style-base');
  fs.mkdirSync(base, { recursive: true });
  for (const f of ['config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    fs.copyFileSync(path.join(FIXTURES, 'base', f), path.join(base, f));
  fs.writeFileSync(
    path.join(base, 'chat_template.jinja'),
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}",
  );
  const data = path.join(dir, 'system-turn.jsonl');
  fs.writeFileSync(
    data,
    [
      { messages: [{ role: 'user', content: 'Hello there.' }] },
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello.' },
        ],
      },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  const cfg = writeConfig(
    dir,
    'system-turn.sae-diff.yaml',
    fixtureConfig({
      models: `{ base: "${base}", sft: "@/sft-domain" }`,
      layers: '{ target_indices: [1] }',
      dataset: `{ path: "${data}", max_samples: 4 }`,
    }),
  );
  const message = `The chat template cannot render prompt 2 of ${data}: System role not supported`;
  const d = codes(cfg).find((x) => x.code === 'dataset-chat-template-refuses');
  assert.ok(d, JSON.stringify(codes(cfg)));
  assert.equal(d.severity, 'error');
  assert.equal(d.message, `${message}.`);
  const r = runCli(['run', cfg, '--out', path.join(dir, 'system-turn.json'), '--quiet']);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(message), r.stderr);
  assert.ok(r.stderr.includes(path.join(base, 'chat_template.jinja')), 'the template file is named');
});

test('a save_path equal to the config or the dataset fails validation, and the run refuses it without touching the file', () => {
  const data = path.join(dir, 'prompts.jsonl');
  fs.copyFileSync(path.join(FIXTURES, 'eval', 'general.jsonl'), data);
  const small = { layers: '{ target_indices: [1] }', dataset: `{ path: "${data}", max_samples: 4 }` };
  const selfCfg = path.join(dir, 'self.sae-diff.yaml');
  for (const [name, target] of [
    ['self', selfCfg],
    ['data', data],
  ] as const) {
    const cfg = writeConfig(dir, `${name}.sae-diff.yaml`, fixtureConfig({ ...small, output: `{ save_path: "${target}" }` }));
    const before = fs.readFileSync(target, 'utf8');
    const d = codes(cfg).find((x) => x.code === 'save-path-is-input');
    assert.ok(d, `${name}: ${JSON.stringify(codes(cfg))}`);
    assert.match(d.message, name === 'self' ? /is the config file itself/ : /is the dataset/);
    const r = runCli(['run', cfg, '--quiet']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /writing the report would overwrite it/);
    assert.equal(fs.readFileSync(target, 'utf8'), before);
    const byFlag = runCli(['run', cfg, '--out', data, '--quiet']);
    assert.equal(byFlag.code, 1);
    assert.equal(fs.readFileSync(data, 'utf8'), name === 'data' ? before : fs.readFileSync(data, 'utf8'));
  }
});

test('a config with bytes that are not UTF-8 (a Latin-1 path) is an error in validate and run, not silently replaced', async () => {
  const { loadConfigFile } = await import('../src/engine/config/load');
  const { validateConfigFile } = await import('../src/engine/authoring/index');
  const cfg = path.join(dir, 'latin1.sae-diff.yaml');
  fs.writeFileSync(
    cfg,
    Buffer.concat([
      Buffer.from(fixtureConfig({ dataset: '{ path: "caf' }).replace(/@\//g, FIXTURES + '/')),
      Buffer.from([0xe9]),
      Buffer.from('.jsonl" }\n'),
    ]),
  );
  assert.throws(() => loadConfigFile(cfg), /latin1\.sae-diff\.yaml is not valid UTF-8 text/);
  const [d] = await validateConfigFile(cfg);
  assert.match(d.message, /Cannot read the config file: .*is not valid UTF-8 text/);
});
