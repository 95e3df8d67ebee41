/**
 * `npm run bench`: builds (or reuses) a synthetic Llama workload of the requested size, runs the
 * diagnostic on it, and prints tokens/s, stage times, peak host RSS and peak device memory. When
 * ../shared/bench and a Python with torch are present, it also builds the same sizes with
 * make_bench_gpu.py and runs the PyTorch peer (torch_peer_dev.py) and the project alternately on that
 * workload, and prints the ratio, naming the peer's build.
 *
 * Sizes (default: the issue's bench workload): --hidden 512 --layers 8 --inter 1408 --heads 8 --kv-heads 4
 *   --vocab 1024 --d-sae 8192 --sae-layers 2,5,7 --prompts 128 --max-tokens 128 --k 64 [--fp16] [--seed 0]
 *   [--fine-tunes 1] (several: one run compares each with base; the peer compares one, so it is not run)
 * Run: --provider auto|cpu|cuda|webgpu|dml|coreml (default auto), --threads N (0 = all cores), --rounds N (2),
 *   --no-peer, --peer-device cpu|cuda, --out-dir DIR (workload folder; default a cache folder per size under
 *   $SAE_DIFF_BENCH_DIR or the temp dir).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GpuMemorySampler } from './gpuMemory';
import { ensurePeerWorkload, findPeer, Peer, PeerRun, runPeer } from './peer';
import { ensureWorkload } from './workload/generate';
import { defaultWorkloadDir, workloadOptions } from './workload/options';
import { commandLineFlags } from './flags';

const ROOT = path.resolve(__dirname, '..', '..');

interface ProjectRun {
  wallS: number;
  runS: number;
  tokens: number;
  timings: Record<string, number>;
  provider: string;
  providerReason?: string;
  maxRssMb: number;
  deviceMb?: number;
  finite: boolean;
}

function runProject(config: string, provider: string, threads: number): Promise<ProjectRun> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sae-diff-bench-out-')), 'report.json');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'out', 'bench', 'runOnce.js'), config, provider, out, String(threads)]);
    const gpu = new GpuMemorySampler(() => child.pid).start();
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      const deviceMb = gpu.stop();
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`sae-diff failed (exit ${code}):\n${stderr.slice(-3000)}`));
      const r = JSON.parse(stdout.trim().split('\n').pop()!);
      resolve({
        wallS,
        runS: r.run_s,
        tokens: r.tokens,
        timings: r.timings,
        provider: r.provider,
        providerReason: r.provider_reason,
        maxRssMb: r.max_rss_mb,
        deviceMb,
        finite: r.finite,
      });
    });
  });
}

const mb = (v: number | undefined) => (v === undefined ? 'n/a' : `${Math.round(v).toLocaleString('en')} MB`);
const tps = (tokens: number, s: number) => `${Math.round(tokens / s).toLocaleString('en')} tok/s`;

function printProject(label: string, r: ProjectRun): void {
  const t = r.timings;
  const stage = (name: string) => (t[name] !== undefined ? `${name} ${t[name].toFixed(2)} s` : undefined);
  console.log(
    `${label} [${r.provider}]: ${r.tokens.toLocaleString('en')} tokens in ${r.wallS.toFixed(2)} s wall = ${tps(r.tokens, r.wallS)} ` +
      `(${tps(r.tokens, r.runS)} without process start); peak host RSS ${mb(r.maxRssMb)}; peak device memory ${mb(r.deviceMb)}`,
  );
  console.log(`  stages: ${['load', 'tokenize', 'forward', 'sae', 'metrics', 'report'].map(stage).filter(Boolean).join(' | ')}`);
  // on a GPU: the reduction path, where activations live, and whether the SAE kernels agreed with the CPU
  if (r.provider !== 'cpu' && r.providerReason) console.log(`  provider: ${r.providerReason}`);
  if (!r.finite) console.log('  WARNING: the report holds non-finite layer metrics');
}

function printPeer(label: string, p: PeerRun, peer: Peer): void {
  console.log(
    `${label} [PyTorch ${p.device}]: ${p.tokens.toLocaleString('en')} tokens in ${p.wallS.toFixed(2)} s wall = ${tps(p.tokens, p.wallS)}; ` +
      `peak host RSS ${mb(p.maxRssMb)}; peak device memory ${mb(p.deviceMb)} (forward ${p.forwardS} s, SAE + metrics ${p.saeMetricsS} s; torch ${peer.torch}, ${peer.build})`,
  );
}

async function main(): Promise<void> {
  const { flag, has } = commandLineFlags(process.argv.slice(2));
  const o = workloadOptions(flag, has);
  const provider = flag('provider') ?? 'auto';
  const threads = Number(flag('threads') ?? 0);
  const rounds = Number(flag('rounds') ?? 2);
  const dir = path.resolve(flag('out-dir') ?? defaultWorkloadDir(o));

  console.log(
    `== synthetic workload: hidden ${o.hidden}, ${o.layers} layers, inter ${o.inter}, heads ${o.heads}/${o.kvHeads}, vocab ${o.vocab}, ` +
      `SAE ${o.dSae} at layers ${o.saeLayers.join(',')}, ${o.prompts} prompts x ${o.maxTokens} tokens, k ${o.k}${o.fp16 ? ', float16' : ''}` +
      `${o.fineTunes > 1 ? `, ${o.fineTunes} fine-tunes` : ''} ==`,
  );
  const w = await ensureWorkload(o, dir, (l) => console.log(l));
  if (w.reused) console.log(`reusing ${w.dir}`);

  const peer = has('no-peer')
    ? { missing: '--no-peer' }
    : o.fineTunes > 1
      ? { missing: `--fine-tunes ${o.fineTunes} (the peer compares one fine-tune)` }
      : findPeer();
  const peerConfig = 'missing' in peer ? undefined : ensurePeerWorkload(peer, o, `${dir}-peer`, (l) => console.log(l));
  const ourRounds = peerConfig ? 1 : rounds;
  for (let i = 1; i <= ourRounds; i++)
    printProject(`round ${i} sae-diff (synthetic workload)`, await runProject(w.config, provider, threads));

  if ('missing' in peer || !peerConfig) {
    if ('missing' in peer) console.log(`\n(no PyTorch peer: ${peer.missing}; see ../shared/bench/README.md)`);
    return;
  }
  const peerThreads = threads > 0 ? threads : os.availableParallelism();
  const ours: ProjectRun[] = [],
    theirs: PeerRun[] = [];
  let device = flag('peer-device') as 'cpu' | 'cuda' | undefined;
  for (let i = 1; i <= rounds; i++) {
    const r = await runProject(peerConfig, provider, threads);
    // the peer runs where the project ran: CUDA against a GPU provider (when torch has CUDA), else the CPU
    device ??= r.provider !== 'cpu' && peer.cuda ? 'cuda' : 'cpu';
    if (i === 1) {
      console.log(
        `\n== side by side on make_bench_gpu.py's workload (${path.dirname(peerConfig)}): sae-diff --provider ${provider} vs ` +
          `torch_peer_dev.py on ${device}, PyTorch ${peer.torch} (${peer.build}, ${peer.python}), ${peerThreads} threads ==`,
      );
    }
    ours.push(r);
    printProject(`round ${i} sae-diff`, r);
    const p = await runPeer(peer, path.dirname(peerConfig), device, peerThreads);
    theirs.push(p);
    printPeer(`round ${i} peer`, p, peer);
  }
  const best = <T extends { wallS: number }>(xs: T[]) => xs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
  const a = best(ours),
    b = best(theirs);
  const sm = (a.timings.sae ?? 0) + (a.timings.metrics ?? 0);
  console.log(
    `\nspeed ratio sae-diff [${a.provider}] vs PyTorch ${peer.torch} (${peer.build}) on ${device}: ${(b.wallS / a.wallS).toFixed(2)}x (peer wall / sae-diff wall, above 1 = sae-diff faster; ` +
      `best of ${rounds}, alternating, same machine); forward ${a.timings.forward?.toFixed(2)} s vs ${b.forwardS} s; ` +
      `SAE + metrics ${sm.toFixed(2)} s vs ${b.saeMetricsS} s; peak host RSS ${mb(Math.max(...ours.map((x) => x.maxRssMb)))} vs ${mb(Math.max(...theirs.map((x) => x.maxRssMb ?? 0)))}`,
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
