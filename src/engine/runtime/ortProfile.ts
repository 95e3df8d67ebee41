import * as path from 'path';
import type * as ort from 'onnxruntime-node';

/** A folder for ONNX Runtime's per-session profiles (bench/ortProfileSummary.ts sums them): for measuring. */
export const ORT_PROFILE_ENV = 'SAE_DIFF_ORT_PROFILE';

/**
 * ONNX Runtime's profiler for a session, when ORT_PROFILE_ENV names a folder: each session writes a Chrome
 * trace (node times; on WebGPU, the kernels' GPU times where the adapter has timestamp queries) into it
 * when released, named after what the session runs. Off otherwise: profiling costs time on every node.
 */
export function profileOptions(what: string, env: Record<string, string | undefined> = process.env): ort.InferenceSession.SessionOptions {
  const dir = env[ORT_PROFILE_ENV];
  if (!dir) return {};
  // what the session runs, then the end of its path (the start of a long path says little)
  const safe = what.replace(/[^A-Za-z0-9._-]+/g, '_');
  const name = safe.length > 90 ? `${safe.slice(0, 30)}..${safe.slice(-58)}` : safe;
  return { enableProfiling: true, profileFilePrefix: path.join(dir, name) };
}
