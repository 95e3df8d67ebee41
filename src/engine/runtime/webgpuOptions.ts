import type * as ort from 'onnxruntime-node';
import { SaeDiffError } from '../core/errors';

export type BufferCacheMode = 'disabled' | 'lazyRelease' | 'simple' | 'bucket';
const MODES: readonly BufferCacheMode[] = ['disabled', 'lazyRelease', 'simple', 'bucket'];
/** Overrides the storage buffer cache mode of WebGPU sessions (for measuring; see webgpuStorageCache). */
export const WEBGPU_BUFFER_CACHE_ENV = 'SAE_DIFF_WEBGPU_BUFFER_CACHE';

/**
 * How ONNX Runtime's WebGPU provider reuses its storage buffers. Its default, 'bucket', keeps freed buffers
 * for reuse only up to 160 MiB (BUCKET_DEFAULT_LIMIT_TABLE, onnxruntime/core/providers/webgpu/
 * buffer_manager.cc); a larger one is destroyed when freed and created again (Dawn zero-fills every new
 * buffer) for the next op that needs it. A run's [tokens x SAE width] and [batch x seq x MLP] intermediates are
 * 128 MiB to 1 GiB, every chunk and batch. Seen on an H200, the dense path's main loop (8,192-token chunks,
 * 128-prompt batches) ran at 1,110 tokens/s with 'bucket' and 4,105 with 'simple'. 'simple' keeps every freed buffer by exact
 * size; a run's chunks and batches repeat the same sizes, so each is created once. The mode belongs to
 * the process's WebGPU context (the first session's options set it), so every WebGPU session of a process,
 * the provider probe included, is created with these options.
 */
export function webgpuStorageCache(env: Record<string, string | undefined> = process.env): BufferCacheMode {
  const asked = env[WEBGPU_BUFFER_CACHE_ENV];
  if (asked === undefined || asked === '') return 'simple';
  if (!(MODES as readonly string[]).includes(asked)) {
    throw new SaeDiffError(`${WEBGPU_BUFFER_CACHE_ENV}=${asked} is not a buffer cache mode of ONNX Runtime's WebGPU provider`, {
      hint: `Use one of ${MODES.join(', ')}, or unset it (default: simple).`,
    });
  }
  return asked as BufferCacheMode;
}

/** The WebGPU provider entry of a session's executionProviders (cpuNodes: model/oversizedWeights.ts). */
export function webgpuProvider(
  cpuNodes: readonly string[] = [],
  env: Record<string, string | undefined> = process.env,
): ort.InferenceSession.WebGpuExecutionProviderOption {
  return {
    name: 'webgpu',
    storageBufferCacheMode: webgpuStorageCache(env),
    ...(cpuNodes.length > 0 ? { forceCpuNodeNames: cpuNodes } : {}),
  };
}

/** A provider as a probe session names it: WebGPU with the options every WebGPU session of the process shares. */
export function probeProviderEntry(provider: string): ort.InferenceSession.ExecutionProviderConfig {
  return provider === 'webgpu' ? webgpuProvider() : provider;
}

/**
 * The widest row ONNX Runtime's WebGPU TopK sorts in workgroup memory (onnxruntime/core/providers/webgpu/
 * math/top_k.cc: a bitonic sort of the whole row, whatever k, in one dispatch up to 2048 padded columns).
 * A wider row takes one global-memory dispatch per bitonic step: 105 passes over a [tokens x 16,384]
 * tensor, each reading and writing its values and indices. So SAE graphs sort at most this many columns at once on
 * WebGPU: the top-k sets in blocks of features (sae/topKMembership.ts), the top contexts in blocks of tokens
 * (sae/contextCandidates.ts), which bounds the tokens of an SAE chunk (runtime/deviceBatch.ts's maxChunk).
 */
export const WEBGPU_WORKGROUP_SORT_MAX = 2048;
