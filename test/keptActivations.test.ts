/**
 * The feature details of a small run cut their token windows from the main pass's activations
 * (report/keptActivations.ts) instead of replaying the models: the same windows, values and prompts as the
 * replay, which SAE_DIFF_KEEP_ACTIVATIONS_MB=0 forces; a run over the bound keeps what fits and replays the
 * rest; shards replay as before. Likewise they
 * use the run's own copy of a small SAE, and read an SAE the run did not keep again (only its listed features'
 * weights, SAE_DIFF_KEEP_SAES_MB=0): the same details either way.
 */
import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import { loadConfigText } from '../src/engine/config/load';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { KEEP_ACTIVATIONS_BYTES, KEEP_ACTIVATIONS_ENV, keepActivationsBytes, keptBytes } from '../src/engine/report/keptActivations';
import { KEEP_LOADED_SAE_BYTES, KEEP_LOADED_SAES_ENV, keepLoadedSaeBytes } from '../src/engine/report/featureDetails';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { fixtureConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('kept');
const yaml = fixtureConfig({ layers: '{ target_indices: [1, 4] }', dataset: '{ path: "@/eval/chat.jsonl", max_samples: 24 }' }).replace(
  /@\//g,
  FIXTURES.replace(/\\/g, '/') + '/',
);

/** A run with KEEP_ACTIVATIONS_ENV set to `keepMiB` (unset when undefined) and the other variables of `env`. */
async function run(name: string, keepMiB: string | undefined, shard?: { index: number; count: number }, env: Record<string, string> = {}) {
  const variables = { [KEEP_ACTIVATIONS_ENV]: keepMiB, ...env };
  const saved = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(variables);
  const log: string[] = [];
  try {
    const { report } = await runDiagnostic(loadConfigText(yaml, path.join(dir, `${name}.yaml`)), {
      provider: 'cpu',
      outPath: path.join(dir, `${name}.json`),
      shard,
      onLog: (l) => log.push(l),
    });
    return { report, log: log.join('\n') };
  } finally {
    set(saved);
  }
}

/** Every listed context, in report order. */
function contexts(report: SaeDiffReport) {
  return report.comparisons.flatMap((c) =>
    c.layers.flatMap((l) => l.shifted_features.flatMap((f) => [...(f.contexts?.base ?? []), ...(f.contexts?.sft ?? [])])),
  );
}

test('kept activations give the replay’s windows exactly, and the focus is the context’s own activation', async () => {
  const kept = await run('kept', undefined);
  const replayed = await run('replayed', '0');
  assert.match(kept.log, /feature details: token windows cut from this pass's activations \(\d+(\.\d+)? MiB kept\)/);
  assert.doesNotMatch(replayed.log, /cut from this pass's activations/);
  const a = contexts(kept.report),
    b = contexts(replayed.report);
  assert.equal(a.length, b.length);
  const windows = a.filter((c) => c.activations);
  assert.ok(windows.length > 100, `${windows.length} windows`);
  for (const [i, c] of a.entries()) {
    assert.deepEqual(c.token_ids, b[i].token_ids);
    assert.deepEqual(c.activations, b[i].activations);
    if (c.activations) assert.equal(c.activations[c.focus!], c.activation);
  }
  assert.deepEqual(kept.report.prompts, replayed.report.prompts);
});

test('a run over the bound keeps the prompts that fit and replays only the others: the same windows', async () => {
  const whole = await run('whole', undefined);
  const mib = Number(/\((\d+(?:\.\d+)?) MiB kept\)/.exec(whole.log)![1]);
  const part = await run('part', String(mib / 2));
  assert.match(part.log, /token windows cut from this pass's activations for the prompts that fit in \d+(\.\d+)? MiB/);
  const split = [...part.log.matchAll(/feature details \((base|sft)\): (\d+) prompts cut from the kept activations, (\d+) replayed/g)];
  assert.ok(split.length > 0, part.log);
  for (const [, , cut, replayed] of split) assert.ok(Number(cut) > 0 && Number(replayed) > 0);
  assert.deepEqual(contexts(part.report), contexts(whole.report));
  assert.deepEqual(part.report.prompts, whole.report.prompts);
});

test('SAEs read again for the feature details (only the listed features) give the details of the kept SAEs', async () => {
  const kept = await run('sae-kept', undefined);
  const reread = await run('sae-reread', undefined, undefined, { [KEEP_LOADED_SAES_ENV]: '0' });
  const details = (r: SaeDiffReport) =>
    r.comparisons.flatMap((c) =>
      c.layers.flatMap((l) => l.shifted_features.map((f) => ({ contexts: f.contexts, logit: f.logit_effects }))),
    );
  const a = details(kept.report);
  assert.ok(a.filter((d) => d.logit && d.contexts?.base.some((c) => c.activations)).length > 20, 'features with windows and logit effects');
  assert.deepEqual(details(reread.report), a);
});

test(`${KEEP_LOADED_SAES_ENV} sets the SAE bound in MiB, and a bad value is refused naming it`, () => {
  assert.equal(keepLoadedSaeBytes({}), KEEP_LOADED_SAE_BYTES);
  assert.equal(keepLoadedSaeBytes({ [KEEP_LOADED_SAES_ENV]: '0' }), 0);
  assert.equal(keepLoadedSaeBytes({ [KEEP_LOADED_SAES_ENV]: '64' }), 64 * 2 ** 20);
  assert.throws(() => keepLoadedSaeBytes({ [KEEP_LOADED_SAES_ENV]: '-1' }), /SAE_DIFF_KEEP_SAES_MB=-1 is not a size/);
});

test('a shard keeps nothing (its report has no feature details to make)', async () => {
  const { log } = await run('shard', undefined, { index: 0, count: 2 });
  assert.doesNotMatch(log, /cut from this pass's activations/);
});

test(`${KEEP_ACTIVATIONS_ENV} sets the bound in MiB, and a bad value is refused naming it`, () => {
  assert.equal(keepActivationsBytes({}), KEEP_ACTIVATIONS_BYTES);
  assert.equal(keepActivationsBytes({ [KEEP_ACTIVATIONS_ENV]: '0' }), 0);
  assert.equal(keepActivationsBytes({ [KEEP_ACTIVATIONS_ENV]: '1.5' }), 1.5 * 2 ** 20);
  assert.throws(() => keepActivationsBytes({ [KEEP_ACTIVATIONS_ENV]: 'lots' }), /SAE_DIFF_KEEP_ACTIVATIONS_MB=lots is not a size/);
  // the bench workload (base and one fine-tune, 3 layers, 16,256 tokens of width 512) keeps part; the 1B-class run all
  assert.ok(keptBytes(2, 3, 16_256, 512) > KEEP_ACTIVATIONS_BYTES);
  assert.ok(keptBytes(2, 3, 2_032, 2048) <= KEEP_ACTIVATIONS_BYTES);
});
