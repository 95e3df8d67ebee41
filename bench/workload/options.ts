import * as os from 'os';
import * as path from 'path';
import type { LlamaSizes } from './llamaGraph';

/** The sizes of a synthetic workload. Defaults: the issue's "bench" workload (../shared/bench/make_bench.py). */
export interface WorkloadOptions extends LlamaSizes {
  dSae: number;
  saeLayers: number[];
  prompts: number;
  maxTokens: number;
  /** sae.k of the config (top-k overlap). */
  k: number;
  seed: number;
  /** Fine-tunes compared with base in one run (folders sft, sft2, ...; each its own noise). */
  fineTunes: number;
}

/** Bump when the generator's output changes, so cached workloads are rebuilt. */
export const GENERATOR_VERSION = 2;

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer (got ${v})`);
  return n;
}

/** Reads the size flags (`--hidden 512` or `--hidden=512`); unknown flags are left to the caller. */
export function workloadOptions(flag: (name: string) => string | undefined, has: (name: string) => boolean): WorkloadOptions {
  const int = (name: string, dflt: number) => {
    const v = flag(name);
    return v === undefined ? dflt : positiveInt(name, v);
  };
  const hidden = int('hidden', 512);
  const layers = int('layers', 8);
  const heads = int('heads', Math.max(1, Math.round(hidden / 64)));
  const saeLayersFlag = flag('sae-layers');
  const saeLayers =
    saeLayersFlag !== undefined
      ? saeLayersFlag.split(',').map((x) => {
          const n = Number(x);
          if (!Number.isInteger(n) || n < 0) throw new Error(`--sae-layers must list layer indices like 2,5,7 (got ${saeLayersFlag})`);
          return n;
        })
      : [Math.round((layers * 2) / 7), Math.floor((layers * 5) / 8), layers - 1].filter((v, i, a) => a.indexOf(v) === i);
  const o: WorkloadOptions = {
    hidden,
    layers,
    heads,
    inter: int('inter', Math.round((hidden * 2.75) / 16) * 16),
    kvHeads: int('kv-heads', heads % 2 === 0 ? heads / 2 : heads),
    vocab: int('vocab', 1024),
    dSae: int('d-sae', 8192),
    saeLayers,
    prompts: int('prompts', 128),
    maxTokens: int('max-tokens', 128),
    k: int('k', 64),
    fp16: has('fp16'),
    seed: flag('seed') !== undefined ? Number(flag('seed')) : 0,
    fineTunes: int('fine-tunes', 1),
  };
  if (o.saeLayers.some((l) => l >= o.layers))
    throw new Error(`--sae-layers ${o.saeLayers.join(',')}: the model has layers 0-${o.layers - 1}`);
  if (o.maxTokens < 2) throw new Error('--max-tokens must be at least 2');
  return o;
}

/** A cache folder per size, so a second `npm run bench` with the same sizes reuses the workload. */
export function defaultWorkloadDir(o: WorkloadOptions): string {
  const key =
    `llama-h${o.hidden}-l${o.layers}-i${o.inter}-a${o.heads}kv${o.kvHeads}-v${o.vocab}-sae${o.dSae}@${o.saeLayers.join('.')}` +
    `-p${o.prompts}x${o.maxTokens}-k${o.k}${o.fp16 ? '-fp16' : ''}${o.fineTunes > 1 ? `-ft${o.fineTunes}` : ''}-s${o.seed}-g${GENERATOR_VERSION}`;
  return path.join(process.env.SAE_DIFF_BENCH_DIR ?? path.join(os.tmpdir(), 'sae-diff-bench'), key);
}
