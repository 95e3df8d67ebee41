import { spawnSync } from 'child_process';

export interface DeviceBatchInput {
  dModel: number;
  dSae: number;
  /** Hooked layers (all kept on the device for one batch). */
  layers: number;
  /** Tokens per prompt at most (runtime.max_tokens). */
  maxTokens: number;
  /** Device memory this run may use for activations and intermediates (weights already loaded). */
  budgetBytes: number;
}

export interface DeviceBatchPlan {
  /** Prompts per forward pass. */
  batchSize: number;
  /** Tokens per SAE projection call. */
  chunkTokens: number;
  /** The bound below for this plan; <= budgetBytes whenever `fits`. */
  bytes: number;
  /** False when even one prompt and one token per chunk exceed the budget (the plan is then 1 and 1). */
  fits: boolean;
}

/** float32 working set of the forward pass per token, in units of d (residual, q/k/v/o, MLP up/gate/down, norms). */
export const FORWARD_D_FACTOR = 32;
/** [tokens x SAE width] float32 tensors alive at once per model in the dense SAE graph (pre, z, active mask, top-k mask, diff, |diff|, diff^2). */
export const SAE_WIDTH_FACTOR = 7;
export const MAX_BATCH = 256;
export const MAX_CHUNK = 8192;

/**
 * The bound (bytes, float32, per batch of B prompts and chunks of C tokens, S = maxTokens):
 *
 *   bytes = B·S·4·(2·layers·d + FORWARD_D_FACTOR·d + heads·S) + C·4·2·(SAE_WIDTH_FACTOR·m + 4·d)
 *
 * with heads = max(1, d/64): base's and a fine-tune's hooked activations at every layer, the forward
 * pass's peak (attention scores of one layer included), and the dense SAE graph's intermediates for
 * both models. The chunk takes at most half the budget (capped at MAX_CHUNK tokens), the batch the
 * rest (capped at MAX_BATCH prompts). A pure function, so the choice is reproducible and testable.
 */
export function planDeviceBatch(p: DeviceBatchInput): DeviceBatchPlan {
  const d = p.dModel,
    m = p.dSae,
    S = Math.max(1, p.maxTokens);
  const heads = Math.max(1, Math.floor(d / 64));
  const perPrompt = S * 4 * (2 * p.layers * d + FORWARD_D_FACTOR * d + heads * S);
  const perChunkToken = 4 * 2 * (SAE_WIDTH_FACTOR * m + 4 * d);
  const bytes = (b: number, c: number) => b * perPrompt + c * perChunkToken;
  const budget = Math.max(0, p.budgetBytes);
  // the chunk never needs more tokens than one batch holds
  let chunk = Math.max(1, Math.min(MAX_CHUNK, Math.floor(budget / 2 / perChunkToken)));
  let batch = Math.max(1, Math.min(MAX_BATCH, Math.floor((budget - chunk * perChunkToken) / perPrompt)));
  if (bytes(batch, chunk) > budget) {
    // one prompt first: give the chunk what is left after it
    batch = 1;
    chunk = Math.max(1, Math.min(MAX_CHUNK, Math.floor((budget - perPrompt) / perChunkToken)));
  }
  chunk = Math.min(chunk, batch * S);
  return { batchSize: batch, chunkTokens: chunk, bytes: bytes(batch, chunk), fits: bytes(batch, chunk) <= budget };
}

/** Used when the free device memory cannot be read (no nvidia-smi: WebGPU on other vendors, DirectML, CoreML). */
export const DEFAULT_DEVICE_BUDGET = 2 * 1024 ** 3;
/** Share of the free device memory a run plans for: ONNX Runtime's arenas round allocations up. */
export const FREE_MEMORY_SHARE = 0.5;

/**
 * The memory budget on a GPU provider: half the free memory of the first NVIDIA GPU as nvidia-smi
 * reports it (read after the sessions, and so the weights, are loaded), else DEFAULT_DEVICE_BUDGET.
 */
export function deviceMemoryBudget(run: typeof spawnSync = spawnSync): { bytes: number; source: string } {
  try {
    const r = run('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 3000 });
    const mib = Number(
      String(r.stdout ?? '')
        .split('\n')[0]
        .trim(),
    );
    if (r.status === 0 && Number.isFinite(mib) && mib > 0)
      return { bytes: Math.floor(mib * 1024 * 1024 * FREE_MEMORY_SHARE), source: `half of ${mib} MiB free (nvidia-smi)` };
  } catch {
    // no nvidia-smi: the default below
  }
  return { bytes: DEFAULT_DEVICE_BUDGET, source: 'default 2 GiB (free device memory unknown)' };
}

export interface BatchingInput {
  /** The run's provider and reduction path. */
  gpuDense: boolean;
  /** runtime.batch_size and runtime.sae_batch_tokens as resolved (defaults included). */
  batchSize: number;
  chunkTokens: number;
  /** The runtime keys the config file writes, and a batch size the caller passes (CLI, editor). */
  keysSet: ReadonlySet<string>;
  optionBatchSize?: number;
  shape: Omit<DeviceBatchInput, 'budgetBytes'>;
  budget: () => { bytes: number; source: string };
}

/**
 * Prompts per forward pass and tokens per SAE call. The sparse path and the CPU keep runtime.batch_size
 * and runtime.sae_batch_tokens. The dense path on a GPU takes planDeviceBatch's choice for each of the
 * two that neither the file nor the caller sets.
 */
export function chooseBatching(p: BatchingInput): {
  batchSize: number;
  chunkTokens: number;
  plan?: DeviceBatchPlan;
  budgetSource?: string;
} {
  const fixed = { batchSize: p.optionBatchSize ?? p.batchSize, chunkTokens: p.chunkTokens };
  if (!p.gpuDense) return fixed;
  const budget = p.budget();
  const plan = planDeviceBatch({ ...p.shape, budgetBytes: budget.bytes });
  return {
    batchSize: p.optionBatchSize ?? (p.keysSet.has('batch_size') ? p.batchSize : plan.batchSize),
    chunkTokens: p.keysSet.has('sae_batch_tokens') ? p.chunkTokens : plan.chunkTokens,
    plan,
    budgetSource: budget.source,
  };
}
