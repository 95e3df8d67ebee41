import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { GpuMemorySampler } from './gpuMemory';
import type { WorkloadOptions } from './workload/options';

/** The PyTorch peer of ../shared/bench, when that folder and a Python with torch are both here. */
export interface Peer {
  python: string;
  torch: string;
  build: string;
  cuda: boolean;
  dir: string;
}

export const SHARED_BENCH = path.resolve(__dirname, '..', '..', '..', 'shared', 'bench');

const PROBE =
  'import json, sys, torch; print(json.dumps({"v": torch.__version__, "file": torch.__file__, "cuda": torch.cuda.is_available(), "exe": sys.executable}))';

/** Finds a Python with torch ($PYTHON, python3 on PATH, Debian's /usr/bin/python3) and names its build. */
export function findPeer(sharedBench = SHARED_BENCH): Peer | { missing: string } {
  if (!fs.existsSync(path.join(sharedBench, 'make_bench_gpu.py'))) return { missing: `${sharedBench} is not here` };
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) continue;
    try {
      const p = JSON.parse(r.stdout.trim().split('\n').pop()!);
      // Debian's python3-torch lives under /usr/lib/python3/dist-packages; pip puts it in site-packages or /usr/local
      const build = String(p.file).startsWith('/usr/lib/python3/') ? 'Debian python3-torch' : 'pip';
      return { python, torch: String(p.v), build, cuda: !!p.cuda, dir: sharedBench };
    } catch {
      /* not our JSON: try the next */
    }
  }
  return { missing: `no python with torch (tried ${candidates.join(', ')})` };
}

/** The peer's own workload, built by make_bench_gpu.py with the same sizes (cached by a marker of the options). */
export function ensurePeerWorkload(peer: Peer, o: WorkloadOptions, dir: string, log: (l: string) => void): string | undefined {
  if (o.fp16 || o.vocab !== 1024 || o.seed !== 0) {
    log('(peer skipped: make_bench_gpu.py builds float32 models with the fixture vocabulary (1024) and seed 0 only)');
    return undefined;
  }
  const marker = path.join(dir, 'peer-workload.json');
  const want = JSON.stringify(o);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want) return path.join(dir, 'bench.yaml');
  const env = {
    ...process.env,
    HIDDEN: String(o.hidden),
    LAYERS: String(o.layers),
    INTER: String(o.inter),
    HEADS: String(o.heads),
    KV: String(o.kvHeads),
    DSAE: String(o.dSae),
    SAE_LAYERS: o.saeLayers.join(','),
    NPROMPTS: String(o.prompts),
    MAXTOK: String(o.maxTokens),
    K: String(o.k),
  };
  log(`building the peer's workload with make_bench_gpu.py in ${dir} ...`);
  const r = spawnSync(peer.python, [path.join(peer.dir, 'make_bench_gpu.py'), dir], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    log('(peer skipped: make_bench_gpu.py failed; it needs torch, onnx and regex)');
    return undefined;
  }
  fs.writeFileSync(marker, want);
  return path.join(dir, 'bench.yaml');
}

export interface PeerRun {
  wallS: number;
  maxRssMb?: number;
  deviceMb?: number;
  tokens: number;
  forwardS: number;
  saeMetricsS: number;
  device: string;
}

/** Runs torch_peer_dev.py on the workload, measuring its wall time and its own peak RSS (getrusage at exit). */
export function runPeer(peer: Peer, workloadDir: string, device: 'cpu' | 'cuda', threads: number): Promise<PeerRun> {
  const script = path.join(peer.dir, 'torch_peer_dev.py');
  const wrapper =
    'import resource, runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name="__main__")\n' +
    'finally:\n    print("PEER_MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)';
  const env = { ...process.env, DEVICE: device, THREADS: String(threads) };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(peer.python, ['-c', wrapper, script, workloadDir], { env });
    const gpu = new GpuMemorySampler(() => child.pid).start();
    let out = '',
      err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      const deviceMb = gpu.stop();
      if (code !== 0) return reject(new Error(`torch_peer_dev.py exited with ${code}:\n${err.slice(-2000)}`));
      const rss = /PEER_MAXRSS_KB (\d+)/.exec(err);
      const p = JSON.parse(out.slice(out.indexOf('{')));
      resolve({
        wallS,
        deviceMb,
        maxRssMb: rss ? Number(rss[1]) / 1024 : undefined,
        tokens: p.tokens,
        forwardS: p.forward_s,
        saeMetricsS: p.sae_and_metrics_s,
        device: p.device,
      });
    });
  });
}
