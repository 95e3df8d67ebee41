/**
 * `npm run bench`: runs the diagnostic on the bundled demo and on a workload of realistic shape
 * (built by ../shared/bench/make_bench.py: hidden 512, 8 layers, SAE width 8192 at 3 layers, 16,256
 * tokens), and prints tokens per second per stage and peak memory. With the Python peer available
 * (Debian python3-torch), it runs project and peer alternately, side by side, and prints the ratio.
 *
 * Options: --rounds N (default 2), --no-peer, --bench-dir DIR (default $SAE_DIFF_BENCH_DIR or /tmp/sae-diff-bench).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const SHARED_BENCH = path.resolve(ROOT, '..', 'shared', 'bench');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Measured { wallS: number; maxRssMb?: number; stdout: string; stderr: string; code: number }

/** Runs a command, measuring wall time and (with GNU time) peak resident memory. */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Measured {
  const t = performance.now();
  const r = TIME
    ? spawnSync(TIME, ['-f', 'MAXRSS_KB %M', cmd, ...args], { encoding: 'utf8', env, maxBuffer: 64 << 20 })
    : spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const wallS = (performance.now() - t) / 1000;
  const rss = /MAXRSS_KB (\d+)/.exec(r.stderr ?? '');
  return { wallS, maxRssMb: rss ? Number(rss[1]) / 1024 : undefined, stdout: r.stdout ?? '', stderr: r.stderr ?? '', code: r.status ?? -1 };
}

interface ProjectRun { wallS: number; maxRssMb?: number; tokens: number; timings: Record<string, number> }

function runProject(config: string, out: string): ProjectRun {
  const m = measure(process.execPath, [path.join(ROOT, 'bin', 'sae-diff.js'), 'run', config, '--provider', 'cpu', '--out', out, '--quiet']);
  if (m.code !== 0) throw new Error(`sae-diff failed:\n${m.stderr}`);
  const report = JSON.parse(fs.readFileSync(out, 'utf8'));
  return { wallS: m.wallS, maxRssMb: m.maxRssMb, tokens: report.run.tokens, timings: report.run.timings };
}

function printProject(label: string, r: ProjectRun): void {
  const t = r.timings;
  const per = (s: number) => (s > 0 ? `${Math.round(r.tokens / s).toLocaleString('en')} tok/s` : '-');
  console.log(`${label}: ${r.tokens} tokens in ${r.wallS.toFixed(2)} s wall = ${Math.round(r.tokens / r.wallS)} tok/s; peak RSS ${r.maxRssMb?.toFixed(0) ?? '?'} MB`);
  console.log(`  load ${t.load.toFixed(2)} s | tokenize ${t.tokenize.toFixed(3)} s (${per(t.tokenize)}) | forward ${t.forward.toFixed(2)} s (${per(t.forward)}) | ` +
    `SAE projection ${t.sae.toFixed(2)} s (${per(t.sae)}) | metrics ${t.metrics.toFixed(3)} s (${per(t.metrics)}) | report ${t.report.toFixed(3)} s`);
}

function ensureWorkload(dir: string): boolean {
  if (fs.existsSync(path.join(dir, 'bench.yaml'))) return true;
  const maker = path.join(SHARED_BENCH, 'make_bench.py');
  if (!fs.existsSync(maker)) {
    console.log(`(no realistic workload: ${dir} is missing and ${maker} is not there to build it)`);
    return false;
  }
  console.log(`building the realistic workload in ${dir} (make_bench.py, ~15 s)...`);
  const r = spawnSync('/usr/bin/python3', [maker, dir], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log('(could not build the workload: install python3-torch python3-onnx python3-regex from Debian)');
    return false;
  }
  return true;
}

function main(): void {
  const args = process.argv.slice(2);
  const flag = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const rounds = Number(flag('--rounds') ?? 2);
  const withPeer = !args.includes('--no-peer');
  const benchDir = path.resolve(flag('--bench-dir') ?? process.env.SAE_DIFF_BENCH_DIR ?? '/tmp/sae-diff-bench');
  const outDir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'sae-diff-bench-out-'));

  console.log('== demo (tiny-llama base vs sft-refusal, chat prompts, 6 layers) ==');
  printProject('sae-diff', runProject(path.join(ROOT, 'demo', 'demo.sae-diff.yaml'), path.join(outDir, 'demo.json')));

  console.log(`\n== realistic workload (${benchDir}) ==`);
  if (!ensureWorkload(benchDir)) return;
  const peerScript = path.join(SHARED_BENCH, 'torch_peer.py');
  const peerAvailable = withPeer && fs.existsSync(peerScript) && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  const ours: ProjectRun[] = [];
  const peers: { wallS: number; maxRssMb?: number; tokens: number }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const r = runProject(path.join(benchDir, 'bench.yaml'), path.join(outDir, 'bench.json'));
    ours.push(r);
    printProject(`round ${round} sae-diff`, r);
    if (peerAvailable) {
      const m = measure('/usr/bin/python3', [peerScript, benchDir]);
      if (m.code !== 0) { console.log(`peer failed:\n${m.stderr}`); continue; }
      const p = JSON.parse(m.stdout.slice(m.stdout.indexOf('{')));
      peers.push({ wallS: m.wallS, maxRssMb: m.maxRssMb, tokens: p.tokens });
      console.log(`round ${round} torch peer: ${p.tokens} tokens in ${m.wallS.toFixed(2)} s wall = ${Math.round(p.tokens / m.wallS)} tok/s; ` +
        `peak RSS ${m.maxRssMb?.toFixed(0) ?? '?'} MB (forward ${p.forward_s} s, SAE+metrics ${p.sae_and_metrics_s} s)`);
    }
  }
  const best = (xs: { wallS: number }[]) => Math.min(...xs.map((x) => x.wallS));
  if (peers.length > 0) {
    const ratio = best(peers) / best(ours);
    const memOurs = Math.max(...ours.map((o) => o.maxRssMb ?? 0)), memPeer = Math.max(...peers.map((p) => p.maxRssMb ?? 0));
    console.log(`\nspeed-up over the PyTorch peer (best of ${rounds}, same machine, alternating): ${ratio.toFixed(2)}x; ` +
      `peak RSS ${memOurs.toFixed(0)} MB vs ${memPeer.toFixed(0)} MB`);
  } else if (withPeer) {
    console.log('(peer not run: needs Debian python3-torch; see ../shared/bench/README.md)');
  }
  fs.rmSync(outDir, { recursive: true, force: true });
}

main();
