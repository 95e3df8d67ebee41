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
  /** The largest single tensor the provider may hold (runtime/bufferLimit.ts); undefined: no limit. */
  maxBufferBytes?: number;
  /** Tokens per SAE call at most (default MAX_CHUNK; WebGPU: its TopK's workgroup sort, runtime/webgpuOptions.ts). */
  maxChunk?: number;
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
/**
 * [batch x seq x d] outputs per hooked layer on the device: base's resid_pre, resid_post and the next block's
 * (its self-check probes, fetched on every run when outputs stay on the device: model/runner.ts's
 * fetchedOutputs) and the fine-tune's hooked one.
 */
export const HOOKED_TENSORS_PER_LAYER = 4;
export const MAX_BATCH = 256;
export const MAX_CHUNK = 8192;
/** The widest per-token tensor of a forward pass, in units of d: the MLP's up projection (4x in Llama, 8x in Gemma 7B). */
export const WIDEST_FORWARD_D_FACTOR = 8;

/**
 * The most prompts per batch and tokens per SAE call for which no single tensor exceeds maxBufferBytes:
 * a prompt's widest forward tensor is S·4·max(WIDEST_FORWARD_D_FACTOR·d, heads·S) bytes (the MLP, or one
 * layer's attention scores), a chunk token's widest SAE tensor 4·m (pre-activations, codes, masks).
 * `fits` is false when one prompt or one token alone exceeds it.
 */
export function bufferCaps(shape: Omit<DeviceBatchInput, 'budgetBytes'>): { batch: number; chunk: number; fits: boolean } {
  const max = shape.maxBufferBytes;
  if (max === undefined) return { batch: Infinity, chunk: Infinity, fits: true };
  const d = shape.dModel,
    S = Math.max(1, shape.maxTokens);
  const heads = Math.max(1, Math.floor(d / 64));
  const batch = Math.floor(max / (S * 4 * Math.max(WIDEST_FORWARD_D_FACTOR * d, heads * S)));
  const chunk = Math.floor(max / (4 * shape.dSae));
  return { batch: Math.max(1, batch), chunk: Math.max(1, chunk), fits: batch >= 1 && chunk >= 1 };
}

/**
 * The bound (bytes, float32, per batch of B prompts and chunks of C tokens, S = maxTokens):
 *
 *   bytes = B·S·4·(HOOKED_TENSORS_PER_LAYER·layers·d + FORWARD_D_FACTOR·d + heads·S) + C·4·2·(SAE_WIDTH_FACTOR·m + 4·d)
 *
 * with heads = max(1, d/64): the hooked activations at every layer (see HOOKED_TENSORS_PER_LAYER), the forward
 * pass's peak (attention scores of one layer included), and the dense SAE graph's intermediates for
 * both models. The chunk takes at most half the budget (capped at MAX_CHUNK tokens), the batch the
 * rest (capped at MAX_BATCH prompts). A pure function, so the choice is reproducible and testable.
 */
export function planDeviceBatch(p: DeviceBatchInput): DeviceBatchPlan {
  const d = p.dModel,
    m = p.dSae,
    S = Math.max(1, p.maxTokens);
  const heads = Math.max(1, Math.floor(d / 64));
  const perPrompt = S * 4 * (HOOKED_TENSORS_PER_LAYER * p.layers * d + FORWARD_D_FACTOR * d + heads * S);
  const perChunkToken = 4 * 2 * (SAE_WIDTH_FACTOR * m + 4 * d);
  const bytes = (b: number, c: number) => b * perPrompt + c * perChunkToken;
  const budget = Math.max(0, p.budgetBytes);
  // the chunk never needs more tokens than one batch holds
  const maxChunk = p.maxChunk ?? MAX_CHUNK;
  let chunk = Math.max(1, Math.min(maxChunk, Math.floor(budget / 2 / perChunkToken)));
  let batch = Math.max(1, Math.min(MAX_BATCH, Math.floor((budget - chunk * perChunkToken) / perPrompt)));
  if (bytes(batch, chunk) > budget) {
    // one prompt first: give the chunk what is left after it
    batch = 1;
    chunk = Math.max(1, Math.min(maxChunk, Math.floor((budget - perPrompt) / perChunkToken)));
  }
  const caps = bufferCaps(p);
  batch = Math.min(batch, caps.batch);
  chunk = Math.min(chunk, caps.chunk, batch * S);
  return { batchSize: batch, chunkTokens: chunk, bytes: bytes(batch, chunk), fits: bytes(batch, chunk) <= budget && caps.fits };
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
  /** The largest single tensor the provider may hold (runtime/bufferLimit.ts): caps either choice. */
  maxBufferBytes?: number;
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
 * two that neither the file nor the caller sets. Under a buffer limit (WebGPU), bufferCaps lowers
 * either, whoever set it, and `lowered` says so.
 */
export function chooseBatching(p: BatchingInput): {
  batchSize: number;
  chunkTokens: number;
  plan?: DeviceBatchPlan;
  budgetSource?: string;
  lowered?: string;
} {
  const shape = { ...p.shape, maxBufferBytes: p.maxBufferBytes };
  const chosen: ReturnType<typeof chooseBatching> = { batchSize: p.optionBatchSize ?? p.batchSize, chunkTokens: p.chunkTokens };
  if (p.gpuDense) {
    const budget = p.budget();
    const plan = planDeviceBatch({ ...shape, budgetBytes: budget.bytes });
    chosen.batchSize = p.optionBatchSize ?? (p.keysSet.has('batch_size') ? p.batchSize : plan.batchSize);
    chosen.chunkTokens = p.keysSet.has('sae_batch_tokens') ? p.chunkTokens : plan.chunkTokens;
    chosen.plan = plan;
    chosen.budgetSource = budget.source;
  }
  const caps = bufferCaps(shape);
  const lowered: string[] = [];
  if (chosen.batchSize > caps.batch) lowered.push(`batch ${chosen.batchSize} -> ${caps.batch} prompts`);
  if (chosen.chunkTokens > caps.chunk) lowered.push(`SAE chunk ${chosen.chunkTokens} -> ${caps.chunk} tokens`);
  if (lowered.length > 0) {
    chosen.batchSize = Math.min(chosen.batchSize, caps.batch);
    chosen.chunkTokens = Math.min(chosen.chunkTokens, caps.chunk);
    chosen.lowered = lowered.join(', ');
  }
  if (!caps.fits)
    chosen.lowered = `${chosen.lowered ?? 'nothing'}; one prompt of ${p.shape.maxTokens} tokens or one SAE row still exceeds it`;
  return chosen;
}
