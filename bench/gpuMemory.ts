import { execFileSync } from 'child_process';

/**
 * Peak device memory of a process tree while it runs, sampled with nvidia-smi (per-process used memory,
 * falling back to the board's used memory minus what was used before). Undefined where nvidia-smi is absent.
 */
export class GpuMemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private peakMb = 0;
  private readonly baselineMb: number | undefined;

  constructor(private readonly pid: () => number | undefined) {
    this.baselineMb = boardUsedMb();
  }

  static available(): boolean {
    return boardUsedMb() !== undefined;
  }

  start(intervalMs = 250): this {
    if (this.baselineMb === undefined) return this;
    this.timer = setInterval(() => this.sample(), intervalMs);
    return this;
  }

  private sample(): void {
    const pid = this.pid();
    const perProcess = pid !== undefined ? processUsedMb(pid) : undefined;
    const used = perProcess ?? Math.max(0, (boardUsedMb() ?? 0) - (this.baselineMb ?? 0));
    this.peakMb = Math.max(this.peakMb, used);
  }

  /** Peak MiB, or undefined when nothing could be measured. */
  stop(): number | undefined {
    if (this.timer) clearInterval(this.timer);
    return this.baselineMb === undefined ? undefined : this.peakMb;
  }
}

function smi(args: string[]): string | undefined {
  try {
    return execFileSync('nvidia-smi', args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

function boardUsedMb(): number | undefined {
  const out = smi(['--query-gpu=memory.used', '--format=csv,noheader,nounits']);
  if (!out) return undefined;
  const v = out.trim().split('\n').map(Number).filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) : undefined;
}

function processUsedMb(pid: number): number | undefined {
  const out = smi(['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']);
  if (!out) return undefined;
  let total = 0,
    seen = false;
  for (const line of out.trim().split('\n')) {
    const [p, mb] = line.split(',').map((x) => Number(x.trim()));
    if (p === pid && Number.isFinite(mb)) {
      total += mb;
      seen = true;
    }
  }
  return seen ? total : undefined;
}
