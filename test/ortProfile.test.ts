/** SAE_DIFF_ORT_PROFILE: every session of a run writes ONNX Runtime's profile, and the bench tool sums them. */
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { ORT_PROFILE_ENV, profileOptions } from '../src/engine/runtime/ortProfile';
import { fixtureConfig, writeConfig } from './helpers/cli';
import { CLI, scratchDir } from './helpers/paths';

test('profiles: off unless the variable names a folder; a run then writes one per session, which the summary sums by operator', () => {
  assert.deepEqual(profileOptions('the SAE of /x/blocks.3', {}), {});
  assert.deepEqual(profileOptions('the SAE of /x/blocks.3', { [ORT_PROFILE_ENV]: '/p' }), {
    enableProfiling: true,
    profileFilePrefix: path.join('/p', 'the_SAE_of_x_blocks.3'),
  });
  const long = profileOptions(`the SAE of /${'deep/'.repeat(30)}blocks.3.hook_resid_post`, { [ORT_PROFILE_ENV]: '/p' });
  assert.match(path.basename(long.profileFilePrefix!), /^the_SAE_of_deep_deep.*\.\..*deep_blocks\.3\.hook_resid_post$/);
  assert.ok(path.basename(long.profileFilePrefix!).length <= 90);

  const dir = scratchDir('ort-profile');
  const profiles = path.join(dir, 'profiles');
  fs.mkdirSync(profiles);
  const config = writeConfig(
    dir,
    'p.sae-diff.yaml',
    fixtureConfig({ layers: '{ target_indices: [1] }', dataset: '{ path: "@/eval/chat.jsonl", max_samples: 8 }' }),
  );
  const run = spawnSync(process.execPath, [CLI, 'run', config, '--out', path.join(dir, 'r.json'), '--quiet'], {
    encoding: 'utf8',
    env: { ...process.env, [ORT_PROFILE_ENV]: profiles },
  });
  assert.equal(run.status, 0, run.stderr);
  const files = fs.readdirSync(profiles);
  assert.ok(files.some((f) => f.startsWith('the_SAE_of')) && files.some((f) => /model\.onnx/.test(f)), files.join(', '));

  const summary = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'ortProfileSummary.js'), profiles], {
    encoding: 'utf8',
  });
  assert.equal(summary.status, 0, summary.stderr);
  assert.match(summary.stdout, /Node\/CPUExecutionProvider\/MatMul/);
});
