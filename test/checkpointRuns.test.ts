/**
 * Whole diagnostics on architectures unlike Llama's, each checkpoint fixture against its PEFT LoRA fine-tune, through
 * the CLI, with SAELens SAEs on each layer: Qwen 3.5 (Gated DeltaNet layers as ONNX Scans beside a gated attention
 * layer) and GPT-OSS as released (MXFP4 experts, attention sinks). The fixtures have no tokenizer (its vocabulary is 256 ids), so the run gets a word-level one made from the
 * evaluation prompts' most frequent words; each SAE is exact by construction (latents relu(x) and relu(-x), decoded
 * back to x), so the run's self-check holds and its reconstruction metrics equal the dense ones. What is checked is
 * that every stage (graph cut at the deepest layer, hooks, SAE projection, metrics, report) runs on such a graph
 * and reports what the adapter changed.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli } from './helpers/cli';
import { writeSaeLensSae } from './helpers/saeLensSae';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const out = scratchDir('checkpoint-runs');
const PROMPTS = path.join(FIXTURES, 'eval', 'general.jsonl');

/** A word-level tokenizer of `size` ids: <s>, </s>, <pad>, <unk>, then the prompts' most frequent lowercase words. */
function wordTokenizer(folder: string, size: number): void {
  const counts = new Map<string, number>();
  for (const line of fs.readFileSync(PROMPTS, 'utf8').split('\n').filter(Boolean))
    for (const word of (JSON.parse(line).text as string).toLowerCase().match(/\w+|[^\w\s]/g) ?? [])
      counts.set(word, (counts.get(word) ?? 0) + 1);
  const specials = ['<s>', '</s>', '<pad>', '<unk>'];
  const words = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  const vocab = Object.fromEntries([...specials, ...words.slice(0, size - specials.length)].map((w, i) => [w, i]));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
  fs.writeFileSync(path.join(folder, 'tokenizer.json'), JSON.stringify(tokenizer));
  fs.writeFileSync(
    path.join(folder, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<s>',
      eos_token: '</s>',
      pad_token: '<pad>',
      unk_token: '<unk>',
      tokenizer_class: 'PreTrainedTokenizerFast',
    }),
  );
}

/** A SAELens SAE at `layer`'s resid_post that reconstructs exactly: W_enc = [I, -I], ReLU, W_dec = [I; -I]. */
function exactSae(folder: string, layer: number, dIn: number): string {
  const dSae = 2 * dIn;
  const enc = new Float32Array(dIn * dSae);
  const dec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dIn; i++) {
    enc[i * dSae + i] = 1;
    enc[i * dSae + dIn + i] = -1;
    dec[i * dIn + i] = 1;
    dec[(dIn + i) * dIn + i] = -1;
  }
  return writeSaeLensSae(
    folder,
    { enc, dec, dIn, dSae },
    {
      architecture: 'standard',
      hook_name: `blocks.${layer}.hook_resid_post`,
      hook_layer: layer,
      activation_fn_str: 'relu',
      apply_b_dec_to_input: false,
      normalize_activations: 'none',
    },
  );
}

/** A checkpoint fixture with a LoRA adapter in its lora/ folder, and the layers its run reads. */
const RUNS = [
  {
    what: 'a Qwen 3.5 checkpoint (Gated DeltaNet layers)',
    fixture: path.join('qwen3_5', 'multimodal'),
    layers: [0, 1, 2],
  },
  {
    what: 'GPT-OSS as released (MXFP4 experts, attention sinks)',
    fixture: path.join('gpt-oss', 'mxfp4'),
    layers: [0, 1, 2, 3],
  },
];

for (const { what, fixture, layers: targets } of RUNS)
  test(`a whole run on ${what} against its LoRA fine-tune reports what the adapter changed, at every layer`, () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    const run = path.join(out, fixture.replace(/[\\/]/g, '-'));
    const base = path.join(run, 'base');
    fs.rmSync(run, { recursive: true, force: true });
    fs.mkdirSync(base, { recursive: true });
    fs.copyFileSync(path.join(folder, 'config.json'), path.join(base, 'config.json'));
    fs.symlinkSync(path.join(folder, 'model.safetensors'), path.join(base, 'model.safetensors'));
    wordTokenizer(base, 256);
    const saes = targets.map((layer) => exactSae(path.join(run, 'saes', `layer_${layer}`), layer, 64));
    const config = path.join(run, 'run.sae-diff.yaml');
    fs.writeFileSync(
      config,
      `diagnostic_pipeline:
  models: { base: ${JSON.stringify(base)}, sft: ${JSON.stringify(path.join(folder, 'lora'))} }
  sae: { path: { ${saes.map((s, l) => `${l}: ${JSON.stringify(s)}`).join(', ')} }, k: 8 }
  layers: { target_indices: [${targets.join(', ')}] }
  dataset: { path: ${JSON.stringify(PROMPTS)}, max_samples: 24 }
  runtime: { max_tokens: 32 }
`,
    );
    const file = path.join(run, 'report.json');
    const res = runCli(['run', config, '--provider', 'cpu', '--out', file, '--quiet']);
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
    assert.ok(report.run.tokens > 100, `${report.run.tokens} tokens`);
    assert.equal(report.run.self_check_failed, false);
    const layers = report.comparisons[0].layers;
    assert.deepEqual(
      layers.map((l) => l.layer),
      targets,
    );
    for (const l of layers) {
      for (const [k, v] of Object.entries(l)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `layer ${l.layer} ${k}: ${v}`);
      // the adapter adapts every layer (the fixture scripts: init_lora_weights=False, so it is large)
      assert.ok(l.dense_cosine > 0.2 && l.dense_cosine < 0.99, `layer ${l.layer}: dense cosine ${l.dense_cosine}`);
      // the exact SAEs reconstruct both models: what they see is what the stream holds
      assert.ok(Math.abs(l.recon_cosine - l.dense_cosine) < 1e-4, `layer ${l.layer}: ${l.recon_cosine} vs ${l.dense_cosine}`);
      assert.ok(l.explained_variance_base > 0.9999 && l.explained_variance_sft > 0.9999, `layer ${l.layer}: explained variance`);
    }
  });
