import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { validateConfigText } from '../src/engine/authoring/index';
import { SaeDiffError } from '../src/engine/core/errors';
import { readFileBounded, readFileBoundedAsync, readJsonBounded } from '../src/engine/io/boundedRead';
import { readLabels } from '../src/engine/report/labels';
import { fixtureConfig, writeConfig } from './helpers/cli';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const dir = scratchDir('bounded');

/** A model folder whose files link to the fixture's, except those given (a link target or file content). */
function modelCopy(name: string, from: string, replace: Record<string, { link?: string; text?: string }>): string {
  const out = path.join(dir, name);
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(path.join(FIXTURES, from))) {
    const r = replace[f];
    if (r?.link) fs.symlinkSync(r.link, path.join(out, f));
    else if (r?.text !== undefined) fs.writeFileSync(path.join(out, f), r.text);
    else fs.symlinkSync(path.join(FIXTURES, from, f), path.join(out, f));
  }
  return out;
}

/** Runs `sae-diff validate` in a child whose stdin stays open (so /dev/stdin would block); returns code, output, seconds and peak RSS. */
function validateChild(config: string): Promise<{ code: number | null; out: string; seconds: number; rssMb: number }> {
  const script =
    `require(${JSON.stringify(path.join(REPO_ROOT, 'out', 'src', 'cli', 'main.js'))}).main(['validate', ${JSON.stringify(config)}])` +
    `.then((c) => { process.stderr.write('RSS ' + process.resourceUsage().maxRSS + '\\n'); process.exit(c); })`;
  const t0 = Date.now();
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      const rss = /RSS (\d+)/.exec(out);
      resolve({ code, out, seconds: (Date.now() - t0) / 1000, rssMb: rss ? Number(rss[1]) / 1024 : Infinity });
    }),
  );
}

test('validate on models whose config.json links to /dev/zero and tokenizer.json to /dev/stdin ends fast, bounded, with an error', async () => {
  const base = modelCopy('zero-base', 'base', { 'config.json': { link: '/dev/zero' } });
  const sft = modelCopy('stdin-sft', 'sft-refusal', { 'tokenizer.json': { link: '/dev/stdin' }, 'config.json': { link: '/dev/zero' } });
  const cfg = writeConfig(dir, 'devices.sae-diff.yaml', fixtureConfig({ models: `{ base: "${base}", sft: "${sft}" }` }));
  const r = await validateChild(cfg);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /config\.json is a device, not a regular file/);
  // /dev/stdin is a pipe, a socket (ENXIO on open) or a terminal here: never read
  assert.match(r.out, /tokenizer\.json is (a FIFO \(named pipe\)|a device|a socket or device|not a regular file)/);
  assert.doesNotMatch(r.out, /chat_template/);
  assert.ok(r.seconds < 5, `took ${r.seconds} s`);
  assert.ok(r.rssMb < 200, `peak RSS ${r.rssMb} MB`);
});

test('bounded reads refuse devices, FIFOs and oversized files without reading them', async () => {
  assert.throws(() => readFileBounded('/dev/zero', 1024), /is a device, not a regular file/);
  const fifo = path.join(dir, 'pipe');
  fs.rmSync(fifo, { force: true });
  require('child_process').execFileSync('mkfifo', [fifo]);
  assert.throws(() => readFileBounded(fifo, 1024), /is a FIFO \(named pipe\), not a regular file/);
  await assert.rejects(readFileBoundedAsync(fifo, 1024), /is a FIFO/);
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, '[' + '1,'.repeat(600) + '1]');
  assert.throws(() => readFileBounded(big, 1000), /more than the 1000 bytes this file may have/);
  assert.throws(() => readLabels('/dev/zero'), SaeDiffError);
});

test('JSON inputs must be finite: 1e999 in config.json, a tokenizer or labels is an error naming the key', () => {
  const f = path.join(dir, 'inf.json');
  fs.writeFileSync(f, '{"a": {"b": [1, 1e999]}}');
  assert.throws(() => readJsonBounded(f, 1024), /not finite at a\.b\[1\]/);
  const base = modelCopy('inf-base', 'base', {
    'config.json': {
      text: JSON.stringify(JSON.parse(fs.readFileSync(path.join(FIXTURES, 'base', 'config.json'), 'utf8'))).replace(
        /"rms_norm_eps":\s*[^,}]+/,
        '"rms_norm_eps": 1e999',
      ),
    },
  });
  const cfg = writeConfig(dir, 'inf.sae-diff.yaml', fixtureConfig({ models: `{ base: "${base}", sft: "@/sft-domain" }` }));
  const d = validateConfigText(fs.readFileSync(cfg, 'utf8'), cfg).diagnostics;
  assert.ok(
    d.some((x) => x.code === 'model-bad-config' && /not finite at rms_norm_eps/.test(x.message)),
    JSON.stringify(d.map((x) => x.message)),
  );
});

test('sizes that are not positive integers are named, never shown as "hidden size 128 vs 128" or "(0--2)"', () => {
  const cfgJson = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'sft-domain', 'config.json'), 'utf8'));
  const sft = modelCopy('string-size', 'sft-domain', {
    'config.json': { text: JSON.stringify({ ...cfgJson, hidden_size: String(cfgJson.hidden_size) }) },
  });
  const base = modelCopy('neg-layers', 'base', { 'config.json': { text: JSON.stringify({ ...cfgJson, num_hidden_layers: -1 }) } });
  const cfg = writeConfig(dir, 'sizes.sae-diff.yaml', fixtureConfig({ models: `{ base: "${base}", sft: "${sft}" }` }));
  const messages = validateConfigText(fs.readFileSync(cfg, 'utf8'), cfg)
    .diagnostics.map((d) => d.message)
    .join('\n');
  assert.match(messages, /hidden_size is "128", not a positive integer/);
  assert.match(messages, /num_hidden_layers is -1, not a positive integer/);
  assert.doesNotMatch(messages, /128 vs 128|0--|NaN/);
});

test('validate on an SAE whose weights file links to /dev/stdin ends fast with an error (headers are read from regular files only)', async () => {
  const sae = path.join(dir, 'stdin-sae');
  fs.mkdirSync(sae, { recursive: true });
  const src = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');
  fs.copyFileSync(path.join(src, 'cfg.json'), path.join(sae, 'cfg.json'));
  fs.rmSync(path.join(sae, 'sae_weights.safetensors'), { force: true });
  fs.symlinkSync('/dev/stdin', path.join(sae, 'sae_weights.safetensors'));
  const cfg = writeConfig(
    dir,
    'stdin-sae.sae-diff.yaml',
    fixtureConfig({ layers: '{ target_indices: [3] }', sae: `{ path: { "3": "${sae}" }, k: 16 }` }),
  );
  const r = await validateChild(cfg);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /sae_weights\.safetensors is (a FIFO \(named pipe\)|a device|a socket or device|not a regular file)/);
  assert.ok(r.seconds < 5, `took ${r.seconds} s`);
});
