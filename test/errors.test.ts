import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('errors');

/** A model folder like base/ but with the given model.onnx bytes (or none). */
function fakeModelFolder(name: string, onnx?: Buffer): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(FIXTURES, 'base', f), path.join(folder, f));
  if (onnx) fs.writeFileSync(path.join(folder, 'model.onnx'), onnx);
  return folder;
}

/** A copy of the layer-N SAE with cfg.json edited and/or the weights file replaced. */
function fakeSae(name: string, layer: number, editCfg: (cfg: any) => void, weights?: Buffer): string {
  const src = path.join(FIXTURES, 'saes', `blocks.${layer}.hook_resid_post`);
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'cfg.json'), 'utf8'));
  editCfg(cfg);
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(cfg));
  if (weights) fs.writeFileSync(path.join(folder, 'sae_weights.safetensors'), weights);
  else fs.copyFileSync(path.join(src, 'sae_weights.safetensors'), path.join(folder, 'sae_weights.safetensors'));
  return folder;
}

/** Runs the CLI on a config and checks: exit 1, the message, and no report (nor temp file) left. */
function expectFailure(name: string, yaml: string, expected: RegExp[]): void {
  const config = writeConfig(dir, `${name}.sae-diff.yaml`, yaml);
  const out = path.join(dir, `${name}.sae-report.json`);
  const res = runCli(['run', config, '--out', out, '--provider', 'cpu']);
  assert.equal(res.code, 1, `exit code; stderr:\n${res.stderr}`);
  for (const re of expected) assert.match(res.stderr, re);
  assert.equal(fs.existsSync(out), false, 'no report is written');
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith(`${name}.sae-report.json.tmp`)),
    [],
    'no temp file is left',
  );
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('malformed YAML names the file, line and column', () => {
  expectFailure('malformed', 'diagnostic_pipeline:\n  models: { base: "@/base", sft: [ \n  sae: {\n', [
    /malformed\.sae-diff\.yaml:\d+:\d+: YAML syntax error/,
  ]);
});

test('an unknown key names its line and suggests the right key', () => {
  expectFailure('unknown-key', fixtureConfig({ metrics: '{ cosine_treshold: 0.9 }' }), [
    /unknown-key\.sae-diff\.yaml:7:\d+: Unknown key 'cosine_treshold' in diagnostic_pipeline\.metrics\. Did you mean 'cosine_threshold'\?/,
  ]);
});

test('a model folder with neither an ONNX file nor a checkpoint is refused, naming the folder and key', () => {
  const folder = fakeModelFolder('no-onnx');
  expectFailure('missing-model', fixtureConfig({ models: `{ base: "${folder}", sft: "@/sft-refusal" }` }), [
    new RegExp(`missing-model\\.sae-diff\\.yaml:2:\\d+: No model in ${esc(folder)}`),
    /key models\.base/,
  ]);
});

test('a layer past the last layer names the layer count and the key', () => {
  expectFailure('past-last', fixtureConfig({ layers: '{ target_indices: [0, 6] }' }), [
    /past-last\.sae-diff\.yaml:4:\d+: Layer 6 is past the last layer of base, which has 6 layers \(0-5\)/,
    /key layers\.target_indices/,
  ]);
});

test('an SAE whose d_in differs from the hidden size is refused', () => {
  const sae = fakeSae('sae-din', 2, (c) => {
    c.d_in = 64;
  });
  expectFailure('sae-din', fixtureConfig({ sae: `{ path: { "2": "${sae}" }, k: 16 }`, layers: '{ target_indices: [2] }' }), [
    /has d_in 64, but the model's hidden size is 128/,
    /key sae\.path/,
  ]);
});

test('an SAE trained on another layer than its target is refused', () => {
  expectFailure(
    'sae-hook',
    fixtureConfig({ sae: '{ path: { "3": "@/saes/blocks.2.hook_resid_post" }, k: 16 }', layers: '{ target_indices: [3] }' }),
    [/The SAE assigned to layer 3 .* was trained on layer 2 \(hook blocks\.2\.hook_resid_post\)/, /check_hook_layer: false/],
  );
});

test('an empty dataset is refused', () => {
  const empty = path.join(dir, 'empty.jsonl');
  fs.writeFileSync(empty, '\n\n');
  expectFailure('empty-dataset', fixtureConfig({ dataset: `{ path: "${empty}" }` }), [
    new RegExp(`${esc(empty)}: The dataset empty\\.jsonl has no prompts`),
  ]);
});

test('a safetensors file with an absurd header length is refused', () => {
  const header = Buffer.alloc(16);
  header.writeBigUInt64LE(1n << 40n, 0);
  const sae = fakeSae('sae-absurd', 2, () => {}, header);
  expectFailure('sae-absurd', fixtureConfig({ sae: `{ path: { "2": "${sae}" }, k: 16 }`, layers: '{ target_indices: [2] }' }), [
    new RegExp(`${esc(path.join(sae, 'sae_weights.safetensors'))}: Invalid safetensors file: the header length 1099511627776 is absurd`),
  ]);
});

test('a truncated safetensors file is refused', () => {
  const full = fs.readFileSync(path.join(FIXTURES, 'saes', 'blocks.2.hook_resid_post', 'sae_weights.safetensors'));
  const sae = fakeSae('sae-truncated', 2, () => {}, full.subarray(0, Math.floor(full.length / 2)));
  expectFailure('sae-truncated', fixtureConfig({ sae: `{ path: { "2": "${sae}" }, k: 16 }`, layers: '{ target_indices: [2] }' }), [
    /Invalid safetensors file: tensor '.*' ends at byte \d+ but the data section has \d+ bytes \(truncated file\)/,
  ]);
});

test('an ONNX file that is not ONNX is refused', () => {
  const folder = fakeModelFolder('not-onnx', Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n'));
  expectFailure('not-onnx', fixtureConfig({ models: `{ base: "${folder}", sft: "@/sft-refusal" }` }), [
    new RegExp(`${esc(path.join(folder, 'model.onnx'))}: Not an ONNX model`),
    /git lfs pull/,
  ]);
});

test('a missing model folder that looks like a hub id explains how to export it', () => {
  expectFailure('hub-id', fixtureConfig({ models: '{ base: "meta-llama/Llama-3.2-1B", sft: "@/sft-refusal" }' }), [
    /Model folder not found/,
    /optimum-cli export onnx/,
  ]);
});
