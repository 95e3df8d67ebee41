import * as fs from 'fs';
import * as path from 'path';
import type { ExecutionProviderName, ProviderRequest } from '../config/types';
import { SaeDiffError } from '../core/errors';

/** What the machine offers; injected in tests, probed for real by `probeEnvironment`. */
export interface ProviderEnvironment {
  platform: NodeJS.Platform;
  arch: string;
  /** The CUDA provider library of onnxruntime-node is installed. */
  cudaBinariesInstalled: boolean;
  /** A GPU device node exists (Linux /dev/dri or /dev/nvidia*); elsewhere assumed true. auto tries WebGPU only then. */
  gpuDevicePresent: boolean;
  /** Linux: an NVIDIA device node exists (/dev/nvidia0, ...); undefined where unknown. */
  nvidiaGpuPresent?: boolean;
  /** Whether a session can actually be created on this provider (tries it once; cached). */
  canLoad(provider: ExecutionProviderName): Promise<boolean>;
}

export interface ProviderChoice {
  provider: ExecutionProviderName;
  requested: ProviderRequest;
  /** Why this provider (or why not the requested one), for the log and the report. */
  reason: string;
  warnings: string[];
}

/**
 * onnxruntime-node downloads its CUDA provider at install time (script/install.js, flag
 * `--onnxruntime-node-install=cuda12`, env ONNXRUNTIME_NODE_INSTALL=cuda12). `npm rebuild` re-runs that
 * script on an installed package (npm passes the flag to it as npm_config_onnxruntime_node_install);
 * `npm install` of an already-installed version runs no scripts.
 */
export const CUDA_INSTALL_COMMAND = 'npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12';

export const CUDA_INSTALL_HINT =
  `Install the CUDA binaries of onnxruntime-node (needs network): \`${CUDA_INSTALL_COMMAND}\` in the folder that holds sae-diff's node_modules, ` +
  'with the CUDA 12 runtime and cuDNN 9 on the library path.';

const PLATFORM_OF: Partial<Record<ExecutionProviderName, NodeJS.Platform[]>> = { dml: ['win32'], coreml: ['darwin'] };

/** Why a provider cannot run here at all (platform, architecture, missing binaries), before trying it. */
export function unavailableReason(p: ExecutionProviderName, env: ProviderEnvironment): string | undefined {
  const platforms = PLATFORM_OF[p];
  if (platforms && !platforms.includes(env.platform)) return `${p} runs only on ${platforms.join('/')} (this is ${env.platform})`;
  if (p === 'cuda' && !(env.platform === 'linux' || env.platform === 'win32'))
    return `cuda runs only on Linux and Windows (this is ${env.platform})`;
  if (p === 'cuda' && env.arch !== 'x64') return `onnxruntime-node ships CUDA for x64 only (this is ${env.arch})`;
  if (p === 'cuda' && !env.cudaBinariesInstalled) return `the CUDA binaries of onnxruntime-node are not installed. ${CUDA_INSTALL_HINT}`;
  return undefined;
}

/** WebGPU that loads where Linux shows no GPU: its device is a Vulkan on the CPU (Mesa's lavapipe; scripts/lavapipe.sh). */
export const WEBGPU_WITHOUT_GPU =
  "WebGPU runs, but this machine shows no GPU (/dev/dri/renderD*, /dev/nvidia*): its device is a software Vulkan (such as Mesa's lavapipe), which is slower than --provider cpu.";

/**
 * auto: CUDA where its binaries are installed, DirectML on Windows, CoreML on macOS, WebGPU where it
 * loads, else CPU. An explicit request that cannot load fails, or falls back to CPU when `fallback`.
 */
export async function selectProvider(requested: ProviderRequest, env: ProviderEnvironment, fallback: boolean): Promise<ProviderChoice> {
  const warnings: string[] = [];
  if (requested === 'cpu') return { provider: 'cpu', requested, reason: 'cpu was requested', warnings };
  if (requested === 'auto') {
    const order: ExecutionProviderName[] = ['cuda', 'dml', 'coreml', 'webgpu'];
    const skipped: string[] = [];
    for (const p of order) {
      const why = unavailableReason(p, env);
      if (why) {
        // how to install CUDA only where there is an NVIDIA GPU to use it (sae-diff doctor says it either way)
        if (p === 'cuda' && env.platform === 'linux')
          skipped.push(env.nvidiaGpuPresent === false ? 'cuda: no NVIDIA GPU found' : `cuda: ${why}`);
        continue;
      }
      if (p === 'webgpu' && !env.gpuDevicePresent) {
        skipped.push('webgpu: no GPU device found');
        continue;
      }
      if (await env.canLoad(p)) return { provider: p, requested, reason: `auto picked ${p}`, warnings };
      skipped.push(`${p}: failed to load`);
    }
    return { provider: 'cpu', requested, reason: `auto picked cpu${skipped.length ? ` (${skipped.join('; ')})` : ''}`, warnings };
  }
  const why =
    unavailableReason(requested, env) ?? ((await env.canLoad(requested)) ? undefined : `${requested} failed to load on this machine`);
  if (!why) {
    if (requested === 'webgpu' && !env.gpuDevicePresent) warnings.push(WEBGPU_WITHOUT_GPU);
    return { provider: requested, requested, reason: `${requested} was requested`, warnings };
  }
  if (fallback) {
    warnings.push(`Execution provider ${requested} is not available (${why}); falling back to cpu.`);
    return { provider: 'cpu', requested, reason: `fallback from ${requested}: ${why}`, warnings };
  }
  throw new SaeDiffError(`Execution provider '${requested}' is not available: ${why}`, {
    location: { file: '', key: 'runtime.execution_provider' },
    hint: 'Choose another provider (--provider cpu), or set runtime.fallback: true to fall back to CPU with a warning.',
  });
}

/** The folder holding onnxruntime-node's native binding for this platform. */
export function ortBinaryDir(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string | undefined {
  let root: string;
  try {
    root = path.dirname(path.dirname(require.resolve('onnxruntime-node')));
  } catch {
    return undefined;
  }
  const bin = path.join(root, 'bin');
  if (!fs.existsSync(bin)) return undefined;
  for (const napi of fs.readdirSync(bin).sort().reverse()) {
    const dir = path.join(bin, napi, platform, arch);
    if (fs.existsSync(dir)) return dir;
  }
  return undefined;
}

/** Linux exposes GPUs as /dev/dri/renderD* (Mesa, Vulkan) or /dev/nvidia*; other platforms are assumed to have one. */
export function gpuDevicePresent(platform: NodeJS.Platform = process.platform): boolean {
  if (platform !== 'linux') return true;
  const list = (dir: string) => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  return list('/dev/dri').some((f) => f.startsWith('renderD')) || nvidiaGpuPresent(platform, list) === true;
}

/** Linux: an NVIDIA device node (/dev/nvidia0, ...); undefined on other platforms, where it is not known this way. */
export function nvidiaGpuPresent(
  platform: NodeJS.Platform = process.platform,
  list: (dir: string) => string[] = (dir) => fs.readdirSync(dir),
): boolean | undefined {
  if (platform !== 'linux') return undefined;
  try {
    return list('/dev').some((f) => /^nvidia\d+$/.test(f));
  } catch {
    return false;
  }
}

export function cudaBinariesInstalled(dir = ortBinaryDir()): boolean {
  if (!dir) return false;
  return fs.readdirSync(dir).some((f) => /onnxruntime_providers_cuda\.(so|dll)$/.test(f));
}

/**
 * ONNX Runtime's CUDA provider computes float32 products in TF32 by default (CUDAExecutionProviderInfo
 * `use_tf32{true}`, a provider option onnxruntime-node does not expose): 10-bit mantissas, about 1e-3
 * relative, the size of docs/metrics.md's tolerances, where PyTorch's matmuls default to full float32.
 * NVIDIA_TF32_OVERRIDE=0 turns TF32 off in NVIDIA's libraries whatever the program asked for; it must be set
 * before the first CUDA session of the process. A value the user set is kept.
 */
export function fullFloat32OnCuda(provider: string, env: Record<string, string | undefined> = process.env): void {
  if (provider === 'cuda' && env.NVIDIA_TF32_OVERRIDE === undefined) env.NVIDIA_TF32_OVERRIDE = '0';
}
