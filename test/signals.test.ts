import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { fixtureConfig, writeConfig } from './helpers/cli';
import { CLI, scratchDir } from './helpers/paths';

const dir = scratchDir('signals');

/** Starts `run` on a FIFO dataset nobody writes (so it blocks reading), signals it once it got there, and returns its exit. */
async function interruptOnFifo(sig: NodeJS.Signals): Promise<{ code: number | null; stderr: string; out: string; seconds: number }> {
  const fifo = path.join(dir, `${sig}.jsonl`);
  execFileSync('mkfifo', [fifo]);
  const out = path.join(dir, `${sig}.json`);
  fs.writeFileSync(out, 'previous report');
  const cfg = writeConfig(
    dir,
    `${sig}.sae-diff.yaml`,
    fixtureConfig({ layers: '{ target_indices: [1] }', dataset: `{ path: "${fifo}", max_samples: 4 }` }),
  );
  const child = spawn(process.execPath, [CLI, 'run', cfg, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // the dataset is read after the models and SAEs are loaded: wait for the last SAE line, then a little
  const deadline = Date.now() + 60_000;
  while (!/SAE layer 1:/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  child.kill(sig);
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(killer);
  return { code, stderr, out, seconds: (Date.now() - t0) / 1000 };
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  test(`${sig} while the run blocks reading a FIFO dataset: exit 130, no report, no temp file, previous report intact`, async () => {
    const r = await interruptOnFifo(sig);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /cancelled: no report was written/);
    assert.ok(r.seconds < 10, `exited ${r.seconds} s after the signal`);
    assert.equal(fs.readFileSync(r.out, 'utf8'), 'previous report');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
  });
}

test('a FIFO dataset with a writer is read to max_samples; a silent writer does not keep an abort from ending the read', async () => {
  const { readPromptsAsync } = await import('../src/engine/data/dataset');
  const fifo = path.join(dir, 'fed.jsonl');
  execFileSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', `printf '{"text": "a"}\\n{"text": "b"}\\n{"text": "c"}\\n' > '${fifo}'`]);
  assert.deepEqual(await readPromptsAsync(fifo, 2), [{ text: 'a' }, { text: 'b' }]);
  writer.kill();
  const silent = spawn('sh', ['-c', `exec 3>'${fifo}'; sleep 30`]);
  const c = new AbortController();
  const reading = readPromptsAsync(fifo, 2, c.signal);
  await new Promise((r) => setTimeout(r, 500));
  c.abort();
  await assert.rejects(reading, /cancelled/);
  silent.kill();
});
