import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { after, test } from 'node:test';
import { CancelledError, SaeDiffError } from '../src/engine/core/errors';
import { removeStaleTempFiles, writeFileAtomic, writeFileAtomicAsync } from '../src/engine/report/writeReport';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { scratchDir } from './helpers/paths';

const dir = scratchDir('write-report');
const isRoot = process.getuid?.() === 0;
const ROOT_ONLY = isRoot ? false : 'needs root (tmpfs mount, mknod)';
const temps = (d: string) => fs.readdirSync(d).filter((f) => f.includes('.tmp-'));
const smallRun = (out: string) =>
  fixtureConfig({
    layers: '{ target_indices: [1] }',
    dataset: '{ path: "@/eval/general.jsonl", max_samples: 4 }',
    runtime: '{ max_tokens: 16, execution_provider: cpu }',
    output: `{ save_path: "${out}" }`,
  });

test('a FIFO or a device node as the report path is refused and left as it was (API and CLI)', { skip: ROOT_ONLY }, () => {
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const dev = path.join(dir, 'null-like');
  execFileSync('mknod', [dev, 'c', '1', '3']); // the same device as /dev/null
  for (const target of [fifo, dev]) {
    assert.throws(
      () => writeFileAtomic(target, '{}'),
      (e: unknown) => e instanceof SaeDiffError && /is a (FIFO|device); it is left as it is/.test(e.message),
    );
    const cfg = writeConfig(dir, 'dev.sae-diff.yaml', smallRun(target));
    const byFlag = runCli(['run', cfg, '--out', target, '--quiet']);
    assert.equal(byFlag.code, 1, byFlag.stderr);
    assert.match(byFlag.stderr, /not a regular file|is a (FIFO|device)/);
    const bySavePath = runCli(['run', cfg, '--quiet']);
    assert.equal(bySavePath.code, 1, bySavePath.stderr);
    assert.match(bySavePath.stderr, /dev\.sae-diff\.yaml:\d+:\d+: .*is a (FIFO|device)/);
  }
  assert.ok(fs.lstatSync(fifo).isFIFO());
  assert.ok(fs.lstatSync(dev).isCharacterDevice());
  assert.deepEqual(temps(dir), []);
});

test('the temp file is created with O_EXCL: a link planted at its name is not written through', (t) => {
  const target = path.join(dir, 'excl.json');
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'untouched');
  const real = Math.random;
  let calls = 0;
  t.mock.method(Math, 'random', () => (calls++ === 0 ? 0.5 : real()));
  const planted = `${target}.tmp-${process.pid}-${(0.5).toString(36).slice(2, 8)}`;
  fs.symlinkSync(victim, planted);
  writeFileAtomic(target, '{"ok":1}');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
  assert.equal(fs.readFileSync(target, 'utf8'), '{"ok":1}');
  fs.rmSync(planted);
});

test('stale temp files of dead processes are removed; those of live ones are kept', () => {
  const target = path.join(dir, 'stale.json');
  const dead = `${target}.tmp-999999999-abc123`;
  const live = `${target}.tmp-${process.ppid}-abc123`;
  fs.writeFileSync(dead, 'half a report');
  fs.writeFileSync(live, 'being written');
  removeStaleTempFiles(target);
  assert.ok(!fs.existsSync(dead));
  assert.ok(fs.existsSync(live));
  writeFileAtomic(target, '{}');
  assert.ok(fs.existsSync(live));
  fs.rmSync(live);
});

test('a signal during the write (before the rename) leaves the previous report and no temp file', async () => {
  const target = path.join(dir, 'signal.json');
  fs.writeFileSync(target, 'previous');
  const c = new AbortController();
  const p = writeFileAtomicAsync(target, '{"new":1}', c.signal);
  c.abort(); // arrives while the write is in flight
  await assert.rejects(p, CancelledError);
  assert.equal(fs.readFileSync(target, 'utf8'), 'previous');
  assert.deepEqual(
    temps(dir).filter((f) => f.startsWith('signal.json')),
    [],
  );
});

const mnt = path.join(dir, 'tmpfs');
after(() => {
  if (isRoot)
    try {
      execFileSync('umount', [mnt]);
    } catch {
      /* not mounted */
    }
});

test('a full disk keeps the previous report, leaves no temp file, and the run exits 1', { skip: ROOT_ONLY }, () => {
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  const report = path.join(mnt, 'report.json');
  const previous = JSON.stringify({ previous: 'x'.repeat(60_000) });
  fs.writeFileSync(report, previous);
  // leave about 12 KB free
  const free = () => {
    const s = fs.statfsSync(mnt);
    return s.bavail * s.bsize;
  };
  fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(Math.max(0, free() - 12 * 1024)));
  assert.throws(
    () => writeFileAtomic(report, JSON.stringify({ big: 'y'.repeat(100_000) })),
    (e: unknown) => e instanceof SaeDiffError && /Cannot write the report: .*(ENOSPC|wrote)/.test(e.message),
  );
  assert.equal(fs.readFileSync(report, 'utf8'), previous);
  assert.deepEqual(temps(mnt), []);

  const cfg = writeConfig(dir, 'full.sae-diff.yaml', smallRun(report));
  const r = runCli(['run', cfg, '--quiet']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Cannot write the report: .*The previous report \(if any\) is unchanged/);
  assert.equal(fs.readFileSync(report, 'utf8'), previous);
  assert.deepEqual(temps(mnt), []);
  // merge writes the same way
  const m = runCli(['merge', path.join(dir, 'nothing.json'), '--out', report]);
  assert.equal(m.code, 1);
  assert.equal(fs.readFileSync(report, 'utf8'), previous);
});
