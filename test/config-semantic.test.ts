import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { invalidateSemanticCache, validateConfigFile, validateConfigText } from '../src/engine/authoring/index';
import type { ConfigDiagnostic, Range } from '../src/engine/authoring/index';
import { hubCacheDir, resolveHubModelFolder, resolveSaePath } from '../src/engine/model/hfCache';
import { CHECKPOINT_ARCHITECTURES } from '../src/engine/model/modelFolder';

// Semantic checks against the real tiny-llama fixtures, plus temp copies with one thing changed.
const FIX = path.resolve(__dirname, '../../test/fixtures/tiny-llama');
const TMP = path.resolve(__dirname, '../../test/.tmp/config-semantic');
const CONFIG = path.join(TMP, 'check.sae-diff.yaml');
/** Fixture folder relative to the configs in TMP (configs name files relative to themselves). */
const F = path.relative(TMP, FIX).split(path.sep).join('/');
const NO_HUB = { HF_HUB_CACHE: path.join(TMP, 'empty-hub') };

function config(o: { base?: string; sft?: string; sae?: string; layers?: string; dataset?: string; extraSae?: string } = {}): string {
  return `diagnostic_pipeline:
  models:
    base: ${o.base ?? `${F}/base`}
    sft: ${o.sft ?? `${F}/sft-domain`}
  sae:
    path: ${o.sae ?? `"${F}/saes/blocks.{layer}.hook_resid_post"`}
    k: 16${o.extraSae ?? ''}
  layers:
    target_indices: ${o.layers ?? '[0, 3, 5]'}
  dataset:
    path: ${o.dataset ?? `${F}/eval/general.jsonl`}
`;
}

function check(text: string, env: Record<string, string> = NO_HUB): ConfigDiagnostic[] {
  fs.writeFileSync(CONFIG, text);
  return validateConfigText(text, CONFIG, { env }).diagnostics;
}

function rangeOf(text: string, needle: string): Range {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `'${needle}' not in text`);
  return spanAt(text, at, needle.length);
}

function spanAt(text: string, offset: number, length: number): Range {
  const pos = (off: number) => {
    const lines = text.slice(0, off).split('\n');
    return { line: lines.length - 1, character: lines[lines.length - 1].length };
  };
  return { start: pos(offset), end: pos(offset + length) };
}

function tmpDir(name: string): string {
  const dir = path.join(TMP, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A model folder copy: config.json and tokenizer.json copied, model.onnx a placeholder (never read by the checks). */
function modelCopy(name: string, files: { onnx?: boolean; config?: boolean; tokenizer?: string | false } = {}): string {
  const dir = tmpDir(name);
  if (files.onnx !== false) fs.writeFileSync(path.join(dir, 'model.onnx'), 'placeholder');
  if (files.config !== false) fs.copyFileSync(path.join(FIX, 'base/config.json'), path.join(dir, 'config.json'));
  if (files.tokenizer !== false)
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), files.tokenizer ?? fs.readFileSync(path.join(FIX, 'base/tokenizer.json'), 'utf8'));
  return dir;
}

/** An SAELens folder whose cfg.json is the layer-3 SAE's with some fields changed. */
function saeCopy(name: string, cfgChanges: Record<string, unknown>, weights?: (file: string) => void): string {
  const dir = tmpDir(name);
  const src = path.join(FIX, 'saes/blocks.3.hook_resid_post');
  const cfg = { ...JSON.parse(fs.readFileSync(path.join(src, 'cfg.json'), 'utf8')), ...cfgChanges };
  fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(cfg, null, 2));
  const file = path.join(dir, 'sae_weights.safetensors');
  if (weights) weights(file);
  else fs.copyFileSync(path.join(src, 'sae_weights.safetensors'), file);
  return dir;
}

/** A safetensors file with a real header and a sparse (never written) data section: no weights needed. */
function writeHeaderOnlySafetensors(file: string, shapes: Record<string, number[]>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json)]));
  fs.truncateSync(file, 8 + json.length + offset);
}

const rel = (dir: string) => path.relative(TMP, dir).split(path.sep).join('/');

describe('config semantic checks', () => {
  before(() => fs.mkdirSync(TMP, { recursive: true }));
  after(() => invalidateSemanticCache());

  it('accepts a config whose files all exist and agree', () => {
    assert.deepEqual(check(config()), []);
  });

  it('accepts every golden config', async () => {
    for (const f of fs.readdirSync(path.join(FIX, 'golden')).filter((n) => n.endsWith('.yaml'))) {
      assert.deepEqual(await validateConfigFile(path.join(FIX, 'golden', f), undefined, { env: NO_HUB }), [], f);
    }
  });

  it('reports a missing model folder', () => {
    const text = config({ sft: `${F}/sft-nope` });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'model-not-found');
    assert.equal(d.message, `Model folder not found: ${path.join(FIX, 'sft-nope')}.`);
    assert.deepEqual(d.range, rangeOf(text, `${F}/sft-nope`));
  });

  it('reports a model folder with neither an ONNX model nor a checkpoint', () => {
    const dir = modelCopy('no-onnx', { onnx: false });
    const text = config({ sft: rel(dir) });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'model-no-onnx');
    assert.equal(
      d.message,
      `No model in ${dir} (looked for model.onnx, onnx/model.onnx, onnx/model_fp16.onnx, model_fp16.onnx, model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json). Save the model with save_pretrained (config.json, model.safetensors) or export it with \`optimum-cli export onnx\`, or name the ONNX file with onnx_file.`,
    );
    assert.deepEqual(d.range, rangeOf(text, rel(dir)));
  });

  it('reports a model folder without config.json and tokenizer.json', () => {
    const dir = modelCopy('no-config', { config: false, tokenizer: false });
    const text = config({ sft: rel(dir) });
    const ds = check(text);
    assert.deepEqual(
      ds.map((d) => [d.code, d.message]),
      [
        ['model-no-config', `Missing config.json in ${dir}.`],
        ['model-no-tokenizer', `Missing tokenizer.json in ${dir}.`],
      ],
    );
    for (const d of ds) assert.deepEqual(d.range, rangeOf(text, rel(dir)));
  });

  it('reports a target layer at or above the layer count, saying the count', () => {
    const text = config({ layers: '[0, 3, 6]' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'layer-out-of-range');
    assert.equal(d.message, 'Layer 6 does not exist: the base model has 6 layers (0-5).');
    assert.deepEqual(d.range, spanAt(text, text.indexOf('6]'), 1));
  });

  it("reports attn_z at a Qwen 3.5 model's linear-attention layer, naming its full-attention layers", () => {
    const qwen = path.relative(TMP, path.resolve(FIX, '../qwen3_5/multimodal')).split(path.sep).join('/');
    const text = config({ base: qwen, sft: qwen, layers: '[0, 1]' }).replace(
      'target_indices: [0, 1]',
      'target_indices: [0, 1]\n    hook_point: attn_z',
    );
    const ds = check(text).filter((d) => d.code === 'attn-z-linear-attention-layer');
    assert.deepEqual(
      ds.map((d) => d.message),
      [
        "Layer 0 is a linear-attention, convolution or state-space layer, which has no attention heads and so no attn_z. The base model's full-attention layers are 1.",
      ],
    );
    assert.deepEqual(ds[0].range, spanAt(text, text.indexOf('[0, 1]') + 1, 1));
    // at resid_post every layer is hooked alike
    assert.deepEqual(
      check(config({ base: qwen, sft: qwen, layers: '[0, 1]' })).filter((d) => d.code === 'attn-z-linear-attention-layer'),
      [],
    );
  });

  it('reports a missing SAE folder for a layer', () => {
    const text = config({ sae: `"${F}/saes/layer_{layer}"`, layers: '[2]' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'sae-not-found');
    assert.match(
      d.message,
      new RegExp(`^No usable SAE for layer 2: SAE folder not found: ${escape(path.join(FIX, 'saes/layer_2'))}\\. Check sae\\.path`),
    );
    assert.deepEqual(d.range, rangeOf(text, `"${F}/saes/layer_{layer}"`));
  });

  it('reports target layers that a sae.path map has no entry for', () => {
    const text = config({ sae: `{ 0: ${F}/saes/blocks.0.hook_resid_post }`, layers: '[0, 4]' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'sae-missing-layer');
    assert.equal(d.message, 'sae.path has no SAE for target layer 4. Add "4: <folder>" or use a template with {layer}.');
    assert.deepEqual(d.range, spanAt(text, text.indexOf('path: {'), 'path'.length)); // the key: the entry is what is missing
  });

  it("reports an SAE whose d_in is not the model's hidden size (cfg.json + header only)", () => {
    const dir = saeCopy('sae-d64', { d_in: 64 }, (file) =>
      writeHeaderOnlySafetensors(file, { W_enc: [64, 1024], b_enc: [1024], W_dec: [1024, 64], b_dec: [64] }),
    );
    const text = config({ sae: `{ 3: ${rel(dir)} }`, layers: '[3]' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'sae-d-in-mismatch');
    assert.equal(
      d.message,
      `The SAE for layer 3 has d_in 64, but the base model's hidden size is 128: it was trained on another model (${dir}).`,
    );
    assert.deepEqual(d.range, rangeOf(text, rel(dir)));
  });

  it('reports an SAE trained on another layer than its target, unless check_hook_layer is false', () => {
    const dir = saeCopy('sae-hook2', { hook_layer: 2, hook_name: 'blocks.2.hook_resid_post' });
    const text = config({ sae: `{ 3: ${rel(dir)} }`, layers: '[3]' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'sae-hook-layer-mismatch');
    assert.equal(
      d.message,
      'The SAE assigned to layer 3 was trained on layer 2 (hook blocks.2.hook_resid_post). Assign it to layer 2, fix sae.path, or set sae.check_hook_layer: false if this is intended.',
    );
    assert.deepEqual(d.range, rangeOf(text, rel(dir)));
    assert.deepEqual(check(config({ sae: `{ 3: ${rel(dir)} }`, layers: '[3]', extraSae: '\n    check_hook_layer: false' })), []);
  });

  it('offers a {layer} template when one SAE folder is used for several layers and siblings follow the pattern', () => {
    const text = config({ sae: `${F}/saes/blocks.3.hook_resid_post` });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'sae-hook-layer-mismatch');
    assert.equal(
      d.message,
      `The SAE assigned to layers 0, 5 was trained on layer 3 (hook blocks.3.hook_resid_post). Use the template '${F}/saes/blocks.{layer}.hook_resid_post', or set sae.check_hook_layer: false if this is intended.`,
    );
    assert.deepEqual(d.data, { layers: [0, 5], hookLayer: 3, template: `${F}/saes/blocks.{layer}.hook_resid_post` });
  });

  it('reports a fine-tune whose tokenizer vocabulary differs from the base', () => {
    const tok = JSON.parse(fs.readFileSync(path.join(FIX, 'base/tokenizer.json'), 'utf8'));
    tok.model.vocab['<extra>'] = 1024;
    const dir = modelCopy('sft-other-tokenizer', { tokenizer: JSON.stringify(tok) });
    const text = config({ sft: rel(dir) });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'tokenizer-mismatch');
    assert.equal(
      d.message,
      "The tokenizer of models.sft differs from the base model's (1025 tokens vs the base's 1024): the comparison needs the same token ids. Use the base tokenizer.json for the fine-tune.",
    );
    assert.deepEqual(d.range, rangeOf(text, rel(dir)));
  });

  it('accepts a tokenizer.json that differs from the base only outside the vocabulary', () => {
    const tok = JSON.parse(fs.readFileSync(path.join(FIX, 'base/tokenizer.json'), 'utf8'));
    tok.truncation = { max_length: 64, strategy: 'LongestFirst', stride: 0, direction: 'Right' };
    const dir = modelCopy('sft-same-vocab', { tokenizer: JSON.stringify(tok, null, 1) });
    assert.deepEqual(check(config({ sft: rel(dir) })), []);
  });

  it('reports a missing prompts file', () => {
    const text = config({ dataset: `${F}/eval/nope.jsonl` });
    const [d] = check(text);
    assert.equal(d.code, 'dataset-not-found');
    assert.equal(d.message, `Prompts file not found: ${path.join(FIX, 'eval/nope.jsonl')}.`);
    assert.deepEqual(d.range, rangeOf(text, `${F}/eval/nope.jsonl`));
  });

  it('reports the first prompts record that does not parse', () => {
    const dir = tmpDir('datasets');
    fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"text": "ok"}\n\n{"input": "no text field"}\n');
    fs.writeFileSync(path.join(dir, 'broken.jsonl'), '{"prompt": "ok"}\n{"text": \n');
    fs.writeFileSync(path.join(dir, 'prompts.csv'), 'text\nhello\n');
    fs.writeFileSync(path.join(dir, 'empty.txt'), '\n\n');
    const cases: [string, string][] = [
      [
        'bad.jsonl',
        'Line 3 of bad.jsonl has no prompt field (a "text" or "prompt" string, a "messages" list, ShareGPT "conversations" or an Alpaca "instruction"); its keys are "input", and dataset.field can name the one that holds the prompt.',
      ],
      ['broken.jsonl', 'Line 2 of broken.jsonl is not valid JSON: Unexpected end of JSON input.'],
      [
        'prompts.csv',
        `The prompts file must be .jsonl, .json, .txt or .parquet, not '.csv'. Convert it to JSONL, e.g. python -c "import pandas as pd; pd.read_csv('prompts.csv').to_json('prompts.jsonl', orient='records', lines=True, force_ascii=False)" (datasets' Dataset.to_json does the same).`,
      ],
      ['empty.txt', 'empty.txt has no prompts (it is empty).'],
    ];
    for (const [file, message] of cases) {
      const text = config({ dataset: `${rel(dir)}/${file}` });
      const [d, ...rest] = check(text);
      assert.equal(rest.length, 0, file);
      assert.equal(d.code, 'dataset-invalid');
      assert.equal(d.message, message);
      assert.deepEqual(d.range, rangeOf(text, `${rel(dir)}/${file}`));
    }
    // chat.jsonl needs a chat template: the refusal fine-tune has one (sft-domain has none, and the run would fail)
    for (const ok of ['general.txt', 'chat.jsonl', 'domain.jsonl'])
      assert.deepEqual(check(config({ dataset: `${F}/eval/${ok}`, sft: `${F}/sft-refusal` })), [], ok);
  });

  it('explains how to export a Hugging Face model id that is not in the local cache', () => {
    const text = config({ sft: 'my-org/tiny-sft' });
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'hub-model-not-exported');
    assert.equal(
      d.message,
      `Model folder not found: ${path.join(TMP, 'my-org/tiny-sft')}. If 'my-org/tiny-sft' is a Hugging Face model id, it is not in the local cache (${NO_HUB.HF_HUB_CACHE}): download it with \`hf download my-org/tiny-sft\` (${CHECKPOINT_ARCHITECTURES} run from their safetensors), or export it with \`optimum-cli export onnx --model my-org/tiny-sft <folder>\` and give that folder.`,
    );
    assert.deepEqual(d.range, rangeOf(text, 'my-org/tiny-sft'));
  });

  it('resolves a Hugging Face model id from the local cache (HF_HUB_CACHE, HF_HOME)', () => {
    const home = tmpDir('hf-home');
    const repo = path.join(home, 'hub', 'models--my-org--tiny-sft');
    const snapshot = path.join(repo, 'snapshots', 'abc');
    fs.mkdirSync(snapshot, { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(FIX, 'sft-domain', f), path.join(snapshot, f));
    fs.writeFileSync(path.join(snapshot, 'model.onnx'), 'placeholder');
    fs.mkdirSync(path.join(repo, 'snapshots', 'no-onnx'));

    assert.equal(resolveHubModelFolder('my-org/tiny-sft', { HF_HUB_CACHE: path.join(home, 'hub') }), snapshot);
    assert.equal(resolveHubModelFolder('my-org/tiny-sft', { HF_HOME: home }), snapshot);
    assert.equal(resolveHubModelFolder('my-org/other', { HF_HOME: home }), undefined);
    // a snapshot as from_pretrained downloads it: config, tokenizer and safetensors, no ONNX
    const downloaded = path.join(home, 'hub', 'models--my-org--tiny-base', 'snapshots', 'def');
    fs.mkdirSync(downloaded, { recursive: true });
    fs.writeFileSync(path.join(downloaded, 'model.safetensors'), 'placeholder');
    assert.equal(resolveHubModelFolder('my-org/tiny-base', { HF_HOME: home }), downloaded);
    // and an adapter as PeftModel.push_to_hub leaves it
    const lora = path.join(home, 'hub', 'models--my-org--tiny-lora', 'snapshots', 'ghi');
    fs.mkdirSync(lora, { recursive: true });
    fs.writeFileSync(path.join(lora, 'adapter_config.json'), '{}');
    assert.equal(resolveHubModelFolder('my-org/tiny-lora', { HF_HOME: home }), lora);
    assert.equal(resolveHubModelFolder('../relative/path', { HF_HOME: home }), undefined);
    assert.equal(hubCacheDir({ HOME: '/home/u' }), path.join('/home/u', '.cache', 'huggingface', 'hub'));
    assert.deepEqual(check(config({ sft: 'my-org/tiny-sft' }), { HF_HUB_CACHE: path.join(home, 'hub') }), []);
  });

  it('prefers the snapshot refs/main points at', () => {
    const hub = tmpDir('hf-refs');
    const repo = path.join(hub, 'models--org--m');
    for (const rev of ['old', 'new']) {
      fs.mkdirSync(path.join(repo, 'snapshots', rev, 'onnx'), { recursive: true });
      fs.writeFileSync(path.join(repo, 'snapshots', rev, 'onnx', 'model.onnx'), 'x');
    }
    fs.mkdirSync(path.join(repo, 'refs'));
    fs.writeFileSync(path.join(repo, 'refs', 'main'), 'old\n');
    assert.equal(resolveHubModelFolder('org/m', { HF_HUB_CACHE: hub }), path.join(repo, 'snapshots', 'old'));
  });

  it('finds an SAE folder inside a cached hub repo (org/name/sub/path, {layer} too), and says how to download one that is missing', () => {
    const hub = tmpDir('hf-saes');
    const snapshot = path.join(hub, 'models--sae-org--tiny-saes', 'snapshots', 'rev1');
    for (const layer of [0, 3, 5]) {
      const to = path.join(snapshot, 'res', `blocks.${layer}.hook_resid_post`);
      fs.mkdirSync(to, { recursive: true });
      for (const f of fs.readdirSync(path.join(FIX, 'saes', `blocks.${layer}.hook_resid_post`)))
        fs.symlinkSync(path.join(FIX, 'saes', `blocks.${layer}.hook_resid_post`, f), path.join(to, f));
    }
    const env = { HF_HUB_CACHE: hub };
    assert.deepEqual(resolveSaePath('sae-org/tiny-saes/res/blocks.3.hook_resid_post', TMP, env), {
      folder: path.join(snapshot, 'res', 'blocks.3.hook_resid_post'),
      hub: { id: 'sae-org/tiny-saes', subpath: 'res/blocks.3.hook_resid_post', found: true },
    });
    // a path beside the config wins; a relative path with '..' is never a repo
    assert.deepEqual(resolveSaePath(`${F}/saes/blocks.3.hook_resid_post`, TMP, env), {
      folder: path.join(FIX, 'saes', 'blocks.3.hook_resid_post'),
    });
    assert.deepEqual(check(config({ sae: '"sae-org/tiny-saes/res/blocks.{layer}.hook_resid_post"' }), env), []);
    const missing = check(config({ sae: '"sae-org/tiny-saes/mlp/blocks.{layer}.hook_mlp_out"' }), env);
    // one per layer, as for a template's missing local folders
    assert.deepEqual(
      missing.map((d) => d.code),
      ['sae-not-found', 'sae-not-found', 'sae-not-found'],
    );
    assert.match(
      missing[0].message,
      /If 'sae-org\/tiny-saes' is a Hugging Face repo, its folder mlp\/blocks\.0\.hook_mlp_out is not in the local cache \(.*hf-saes\): download it with hf download sae-org\/tiny-saes --include "mlp\/blocks\.0\.hook_mlp_out\/\*"/,
    );
  });

  it('re-reads a referenced file when it changes on disk, and on explicit invalidation', () => {
    const dir = modelCopy('sft-changing');
    const cfgPath = path.join(dir, 'config.json');
    const fixedTime = new Date('2024-01-01T00:00:00Z');
    fs.utimesSync(cfgPath, fixedTime, fixedTime);
    const text = config({ sft: rel(dir) });
    assert.deepEqual(check(text), []);
    const tok = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
    tok.model.vocab['<new>'] = 1024;
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok)); // a new size: a new stamp
    assert.deepEqual(
      check(text).map((d) => d.code),
      ['tokenizer-mismatch'],
    );

    // Same size and (forced) same mtime: only the explicit invalidation the watcher sends can tell.
    const cfg = fs.readFileSync(cfgPath, 'utf8');
    fs.writeFileSync(cfgPath, cfg.replace('"hidden_size": 128', '"hidden_size": 256'));
    fs.utimesSync(cfgPath, fixedTime, fixedTime);
    assert.deepEqual(
      check(text).map((d) => d.code),
      ['tokenizer-mismatch'],
    );
    invalidateSemanticCache(cfgPath);
    assert.deepEqual(
      check(text).map((d) => d.code),
      ['model-shape-mismatch', 'tokenizer-mismatch'],
    );
    assert.equal(check(text)[0].message, "models.sft is not a fine-tune of the base model's architecture: hidden size 256 vs 128.");
  });

  it('skips semantic checks when the YAML does not parse', () => {
    assert.deepEqual(
      check(config({ sft: `${F}/nope` }) + '  : [\n').map((d) => d.code),
      ['yaml-syntax'],
    );
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
