/**
 * Feature detail on a real run (tiny-llama, sft-refusal): token-window contexts whose activations equal a
 * direct computation (the model run alone on that prompt, the SAE encoder written out in JavaScript), and
 * logit effects equal to W_dec[f] · W_U computed directly.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { HookedModel } from '../src/engine/model/runner';
import { loadSae, type SaeWeights } from '../src/engine/sae/loadSae';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { KEEP_LOADED_SAE_BYTES, WINDOW_AFTER, WINDOW_BEFORE, keepLoadedSae, neuronpediaId } from '../src/engine/report/featureDetails';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { refusalReport } from './helpers/engineReport';
import { FIXTURES } from './helpers/paths';
import { loadTokenizer } from '../src/engine/data/tokenizer';
import { compileTemplate, readPrompts, renderPrompt } from '../src/engine/data/dataset';

const cpu = { provider: 'cpu' as const, threads: 0 };
let report: SaeDiffReport;
let layer: SaeDiffReport['comparisons'][number]['layers'][number];
let sae: SaeWeights;

before(() => {
  report = refusalReport();
  layer = [...report.comparisons[0].layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0];
  sae = loadSae(join(FIXTURES, 'saes', `blocks.${layer.layer}.hook_resid_post`));
});

/** z_f(h) for a standard ReLU SAE, straight from the weights (docs/metrics.md, SAE encoders). */
function directActivation(h: Float32Array, f: number): number {
  let pre = sae.b_enc[f];
  for (let i = 0; i < sae.dIn; i++) pre += (h[i] - (sae.applyBDecToInput ? sae.b_dec[i] : 0)) * sae.W_enc[i * sae.dSae + f];
  return Math.max(0, pre);
}

test('context windows hold the prompt tokens around the firing token, with activations equal to a direct computation', async () => {
  assert.equal(sae.architecture, 'standard');
  const models = { base: join(FIXTURES, 'base', 'model.onnx'), sft: join(FIXTURES, 'sft-refusal', 'model.onnx') };
  let checked = 0;
  for (const side of ['base', 'sft'] as const) {
    const model = await HookedModel.load(models[side], { targets: [layer.layer], hookPoint: 'resid_post', tensorNames: new Map() }, cpu);
    try {
      for (const feature of layer.shifted_features.slice(0, 5)) {
        const contexts = feature.contexts![side];
        for (const context of contexts) {
          assert.ok(context.tokens && context.activations && context.token_ids && context.focus !== undefined, 'a version-2 context');
          assert.equal(context.tokens.length, context.activations.length);
          assert.equal(context.focus, Math.min(WINDOW_BEFORE, context.position - 1));
          assert.ok(context.tokens.length - context.focus - 1 <= WINDOW_AFTER);
          const text = report.prompts![String(context.sample)];
          assert.ok(typeof text === 'string' && text.length > 0, 'the prompt is stored');
          // The model alone on this one prompt (no batch, no padding).
          const ids = promptIds(context.sample, context.token_ids, context.position, context.focus);
          const out = (
            await model.run({ batch: 1, seq: ids.length, ids: Int32Array.from(ids), mask: new Uint8Array(ids.length).fill(1) })
          ).get(layer.layer)!;
          context.activations.forEach((activation, i) => {
            const position = context.position - context.focus! + i;
            const direct = directActivation(out.data.subarray(position * out.hidden, (position + 1) * out.hidden), feature.id);
            assert.ok(
              Math.abs(activation - direct) <= 1e-3 * Math.max(1, Math.abs(direct)),
              `feature ${feature.id} ${side} sample ${context.sample} position ${position}: ${activation} vs ${direct}`,
            );
            checked++;
          });
          assert.ok(
            Math.abs(context.activations[context.focus] - context.activation) <= 1e-4 * Math.max(1, context.activation),
            'the firing token matches the main run',
          );
        }
        // Listed once: contexts with the same near text point at the first one.
        const key = (c: (typeof contexts)[number]) => c.token_ids!.slice(Math.max(0, c.focus! - 8)).join(',');
        contexts.forEach((c, i) => {
          const first = contexts.findIndex((d) => key(d) === key(c));
          assert.equal(c.duplicate_of, first === i ? undefined : first);
        });
      }
    } finally {
      await model.release();
    }
  }
  assert.ok(checked > 100, `${checked} token activations checked`);
});

/** The prompt's ids up to the window's end: the report's window ids after the BOS and the tokens before the window. */
function promptIds(sample: number, windowIds: number[], position: number, focus: number): number[] {
  // The same prompts, rendered and tokenised as the pipeline does (the run's golden config).
  const sequences = (sequenceCache ??= loadSequences());
  const ids = sequences[sample];
  assert.deepEqual(ids.slice(position - focus, position - focus + windowIds.length), windowIds, "the window is the prompt's tokens");
  return ids.slice(0, position - focus + windowIds.length);
}
let sequenceCache: number[][] | undefined;
function loadSequences(): number[][] {
  const tokenizer = loadTokenizer(join(FIXTURES, 'base', 'tokenizer.json'), join(FIXTURES, 'base', 'tokenizer_config.json'));
  const sft = loadTokenizer(join(FIXTURES, 'sft-refusal', 'tokenizer.json'), join(FIXTURES, 'sft-refusal', 'tokenizer_config.json'));
  const template = compileTemplate(sft.chatTemplate!, sft.configFile ?? sft.file);
  const records = readPrompts(join(FIXTURES, 'eval', 'chat.jsonl'), 64);
  return records.map((r) => tokenizer.encode(renderPrompt(r, template, tokenizer.specialTokens, 'chat.jsonl')).slice(0, 64));
}

test('logit effects are the top 10 tokens of W_dec[f] · W_U, computed directly', () => {
  const unembedding = readUnembedding(join(FIXTURES, 'base', 'model.onnx')) as Unembedding;
  assert.equal(typeof unembedding, 'object');
  assert.equal(unembedding.vocab, 1024);
  assert.equal(unembedding.hidden, 128);
  for (const feature of layer.shifted_features.slice(0, 10)) {
    const scores: { id: number; value: number }[] = Array.from({ length: unembedding.vocab }, (_, v) => {
      let sum = 0;
      for (let i = 0; i < sae.dIn; i++) sum += sae.W_dec[feature.id * sae.dIn + i] * unembedding.data[i * unembedding.vocab + v];
      return { id: v, value: sum };
    });
    const promoted: { id: number; value: number }[] = [...scores].sort((a, b) => b.value - a.value).slice(0, 10);
    const suppressed = [...scores].sort((a, b) => a.value - b.value).slice(0, 10);
    const effects = feature.logit_effects!;
    assert.deepEqual(
      effects.promoted.map((e) => e.id),
      promoted.map((e) => e.id),
      `feature ${feature.id} promoted`,
    );
    assert.deepEqual(
      effects.suppressed.map((e) => e.id),
      suppressed.map((e) => e.id),
      `feature ${feature.id} suppressed`,
    );
    effects.promoted.forEach((e, i) => assert.ok(Math.abs(e.value - promoted[i].value) < 1e-4));
    assert.ok(effects.promoted.every((e) => typeof e.token === 'string'));
  }
});

test('a Neuronpedia id in the SAE cfg.json becomes the feature URL; anything else does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sae-diff-np-'));
  try {
    const write = (cfg: unknown) => writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
    write({ d_in: 128, neuronpedia_id: 'gpt2-small/0-res-jb' });
    assert.equal(neuronpediaId(dir), 'gpt2-small/0-res-jb');
    write({ metadata: { neuronpedia_id: 'gemma-2-2b/12-gemmascope-res-16k' } });
    assert.equal(neuronpediaId(dir), 'gemma-2-2b/12-gemmascope-res-16k');
    write({ neuronpedia_id: 'javascript:alert(1)' });
    assert.equal(neuronpediaId(dir), undefined);
    // The fixture SAEs name none: no URL in the report.
    assert.equal(neuronpediaId(join(FIXTURES, 'saes', 'blocks.0.hook_resid_post')), undefined);
    assert.ok(layer.shifted_features.every((f) => f.neuronpedia_url === undefined));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the run keeps loaded SAEs for the feature details only within the memory budget', () => {
  const kept = new Map<number, SaeWeights>();
  keepLoadedSae(kept, 0, sae);
  assert.equal(kept.get(0), sae, 'a small SAE is kept (the details pass does not read it again)');
  // A stand-in as wide as the budget: holding it as well would pass the budget, so it is read again later.
  const wide = { ...sae, W_enc: new Float32Array(KEEP_LOADED_SAE_BYTES / 8), W_dec: new Float32Array(KEEP_LOADED_SAE_BYTES / 8) };
  keepLoadedSae(kept, 1, wide);
  assert.deepEqual([...kept.keys()], [0]);
  const alone = new Map<number, SaeWeights>();
  keepLoadedSae(alone, 1, wide);
  assert.deepEqual([...alone.keys()], [1], 'exactly the budget fits when nothing else is held');
  // SAEs whose projector sessions hold their arrays anyway are kept whatever their size, and take none of the budget
  const shared = new Map<number, SaeWeights>();
  const huge = { ...wide, W_enc: new Float32Array(KEEP_LOADED_SAE_BYTES / 2) };
  keepLoadedSae(shared, 0, huge, true);
  keepLoadedSae(shared, 1, { ...wide }, true);
  keepLoadedSae(shared, 2, wide);
  keepLoadedSae(shared, 3, sae);
  assert.deepEqual([...shared.keys()], [0, 1, 2], 'the budget is spent on layer 2 alone, so layer 3 is read again');
});
