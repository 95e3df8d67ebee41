import type { ExecutionProviderName } from '../config/types';
import { sizeVariable } from '../core/sizeVariable';

/**
 * WebGPU binds every tensor as one storage buffer, and a buffer above the device's maxBufferSize, or a
 * binding above its maxStorageBufferBindingSize, fails validation. ONNX Runtime asks Dawn for the
 * adapter's own limits (onnxruntime/core/providers/webgpu/webgpu_context.cc, GetRequiredLimits), which
 * vary by adapter and which onnxruntime-node does not expose; the WebGPU spec guarantees only 128 MiB
 * and 256 MiB. A run on WebGPU therefore plans for 1 GiB per tensor: SAE weight matrices above it are
 * split into blocks (sae/graphBuilder.ts) and the batch and SAE chunk are capped so that no intermediate
 * tensor exceeds it (runtime/deviceBatch.ts). Adapters that allow less can lower it with the variable.
 */
export const WEBGPU_PLANNED_BUFFER_BYTES = 2 ** 30;
/** Overrides the plan (MiB, fractions allowed); set, it applies to every provider, which is how CI exercises the split graphs on the CPU. */
export const MAX_BUFFER_ENV = 'SAE_DIFF_MAX_BUFFER_MB';
/** Below this a graph of the fixtures would be split into single columns: never a useful plan. */
const MIN_BUFFER_BYTES = 4096;

export interface BufferLimit {
  /** The largest tensor a run lets the provider hold; undefined: no limit. */
  bytes?: number;
  /** Why, for the run log. */
  source: string;
}

export function bufferLimit(provider: ExecutionProviderName, env: Record<string, string | undefined> = process.env): BufferLimit {
  const bytes = sizeVariable(
    env,
    MAX_BUFFER_ENV,
    MIN_BUFFER_BYTES,
    'a buffer size',
    `Give the largest buffer your device allows in MiB (for example ${MAX_BUFFER_ENV}=256), or unset it.`,
  );
  if (bytes !== undefined) return { bytes, source: `${MAX_BUFFER_ENV}=${env[MAX_BUFFER_ENV]}` };
  if (provider === 'webgpu') return { bytes: WEBGPU_PLANNED_BUFFER_BYTES, source: 'webgpu: 1 GiB planned per buffer' };
  return { source: `${provider}: no per-buffer limit` };
}

/** The limit in MiB for logs and the doctor: whole MiB as integers, fractions to two decimals (0.20). */
export function limitMiB(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 2 : 0);
}
