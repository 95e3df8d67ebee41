import * as fs from 'fs';
import * as path from 'path';
import type { ExecutionProviderName } from '../config/types';
import { EXECUTION_PROVIDERS } from '../config/schema';
import type { SaeDiffError } from '../core/errors';
import { bufferLimit, type BufferLimit } from './bufferLimit';
import type { ProviderPlacement } from './nodePlacement';
import { probeInChild, ProbeResult } from './probeProvider';
import {
  CUDA_INSTALL_COMMAND,
  cudaBinariesInstalled,
  gpuDevicePresent,
  WEBGPU_WITHOUT_GPU,
  ortBinaryDir,
  ProviderChoice,
  selectProvider,
  unavailableReason,
} from './providers';
import { CUDA_LINUX_LIBRARIES, libraryFinder, vulkanIcdFiles, WEBGPU_APT_COMMAND, WEBGPU_LINUX_LIBRARIES } from './systemLibraries';

/** The machine as the doctor sees it; injected in tests, real in `realDoctorEnv`. */
export interface DoctorEnv {
  platform: NodeJS.Platform;
  arch: string;
  ortVersion?: string;
  /** onnxruntime-node's listSupportedBackends(): the providers this build knows, and whether their binaries ship in the package. */
  backends: { name: string; bundled: boolean }[];
  /** Creates a one-node session on the provider (in a child process for the real machine). */
  probe(provider: ExecutionProviderName): Promise<ProbeResult>;
  cudaBinariesInstalled: boolean;
  /** The folder whose node_modules holds onnxruntime-node (where to run the CUDA install command). */
  installRoot?: string;
  gpuDevicePresent: boolean;
  findLibrary(soname: string): string | undefined;
  vulkanIcds: string[];
  /** The process environment (SAE_DIFF_MAX_BUFFER_MB; runtime/bufferLimit.ts). */
  variables: Record<string, string | undefined>;
  /**
   * Runs the SAE graphs on a GPU provider that loads, against the CPU, and the user's model when the caller
   * has a config (pipeline/kernelProbe.ts, handed in by the CLI and the extension: it sits above this layer).
   * Absent: not probed.
   */
  kernels?(provider: ExecutionProviderName): Promise<KernelProbe>;
}

/** One graph on a GPU provider (an SAE graph, or the user's model): against the CPU, and where ONNX Runtime ran its nodes. */
export interface GraphProbe {
  /** e.g. "standard SAE, dense path". */
  what: string;
  /** Where the provider's numbers differ from the CPU's (or why the graph did not run); empty when they agree. */
  differences: string[];
  placement: ProviderPlacement[];
  /** The user's model (compared by the cosine of its hooked activations), else one of the SAE graphs. */
  kind?: 'model';
  /** What was measured, for the report (the model's smallest cosine against the CPU). */
  note?: string;
}

export interface KernelProbe {
  graphs: GraphProbe[];
  /** Why the probe gave no result (the provider failed to build a graph, the process died). */
  error?: string;
  seconds: number;
}

export interface ProviderStatus {
  provider: ExecutionProviderName;
  loads: boolean;
  reason?: string;
  nativeLog?: string;
}

export interface DoctorReport {
  machine: string;
  providers: ProviderStatus[];
  auto: ProviderChoice;
  /** Linux only: the libraries WebGPU needs, found or not. */
  webgpuLibraries?: { soname: string; pkg: string; path?: string }[];
  cuda: { installed: boolean; libraries?: { soname: string; path?: string }[] };
  vulkanIcds?: string[];
  /** When WebGPU loads: the largest tensor a run plans for on it. */
  webgpuBufferLimit?: BufferLimit;
  /** Per GPU provider that loads: its SAE graphs (and the user's model, given a config) against the CPU. */
  kernels?: ({ provider: ExecutionProviderName } & KernelProbe)[];
  advice: string[];
}

const PROVIDERS: readonly ExecutionProviderName[] = EXECUTION_PROVIDERS;

/** Why a provider cannot be used, before or after trying it. */
async function statusOf(p: ExecutionProviderName, env: DoctorEnv): Promise<ProviderStatus> {
  const before = unavailableReason(p, { ...env, canLoad: async () => false });
  if (before) return { provider: p, loads: false, reason: before };
  if (!env.backends.some((b) => b.name === p)) {
    return {
      provider: p,
      loads: false,
      reason: `not built into onnxruntime-node ${env.ortVersion ?? ''} for ${env.platform}/${env.arch} (it lists: ${env.backends.map((b) => b.name).join(', ')})`,
    };
  }
  const r = await env.probe(p);
  return { provider: p, loads: r.loads, reason: r.loads ? undefined : (r.error ?? 'failed to load'), nativeLog: r.nativeLog };
}

export async function runDoctor(env: DoctorEnv): Promise<DoctorReport> {
  const providers: ProviderStatus[] = [];
  for (const p of PROVIDERS) providers.push(await statusOf(p, env));
  const loads = new Map(providers.map((s) => [s.provider, s.loads]));
  const auto = await selectProvider('auto', { ...env, canLoad: async (p) => loads.get(p) ?? false }, false);
  const report: DoctorReport = {
    machine: `${env.platform}/${env.arch}, onnxruntime-node ${env.ortVersion ?? '?'}, GPU device ${env.gpuDevicePresent ? 'present' : 'not found'}`,
    providers,
    auto,
    cuda: { installed: env.cudaBinariesInstalled },
    advice: [],
  };
  if (env.platform === 'linux') {
    report.webgpuLibraries = WEBGPU_LINUX_LIBRARIES.map((l) => ({ ...l, path: env.findLibrary(l.soname) }));
    report.vulkanIcds = env.vulkanIcds;
    if (env.cudaBinariesInstalled)
      report.cuda.libraries = CUDA_LINUX_LIBRARIES.map((soname) => ({ soname, path: env.findLibrary(soname) }));
  }
  // WebGPU without a GPU device is a software Vulkan: checking its kernels takes minutes there, and a run on it
  // checks them at its start anyway (pipeline/kernelCheck.ts)
  const softwareWebgpu = (p: ExecutionProviderName) => p === 'webgpu' && !env.gpuDevicePresent;
  const gpus = providers.filter((s) => s.loads && s.provider !== 'cpu' && !softwareWebgpu(s.provider)).map((s) => s.provider);
  if (env.kernels && gpus.length > 0) {
    report.kernels = [];
    for (const provider of gpus) report.kernels.push({ provider, ...(await env.kernels(provider)) });
  }
  report.advice = advise(report, env);
  if (report.providers.find((s) => s.provider === 'webgpu')?.loads) {
    try {
      report.webgpuBufferLimit = bufferLimit('webgpu', env.variables);
    } catch (e) {
      report.advice.push(`${(e as Error).message}: ${(e as SaeDiffError).hint ?? ''}`.trim());
    }
  }
  return report;
}

function advise(r: DoctorReport, env: DoctorEnv): string[] {
  const advice: string[] = [];
  const st = (p: ExecutionProviderName) => r.providers.find((s) => s.provider === p)!;
  const cudaPossible = (env.platform === 'linux' || env.platform === 'win32') && env.arch === 'x64';
  if (cudaPossible && !st('cuda').loads) {
    if (!env.cudaBinariesInstalled) {
      advice.push(
        `CUDA (NVIDIA GPUs): install onnxruntime-node's CUDA binaries (needs network): ${env.installRoot ? `cd ${JSON.stringify(env.installRoot)} && ` : ''}${CUDA_INSTALL_COMMAND}` +
          ' — then put the CUDA 12 runtime and cuDNN 9 on the library path.',
      );
    } else {
      const missing = (r.cuda.libraries ?? []).filter((l) => !l.path).map((l) => l.soname);
      advice.push(
        `CUDA: the binaries are installed but do not load${missing.length ? `; missing: ${missing.join(', ')} (install the CUDA 12 runtime, cuBLAS and cuDNN 9, or add their folder to LD_LIBRARY_PATH)` : ''}.`,
      );
    }
  }
  if (env.platform === 'linux' && st('webgpu').loads && !env.gpuDevicePresent)
    advice.push(`${WEBGPU_WITHOUT_GPU} Its SAE kernels are not checked here; a run on it checks them at its start.`);
  if (env.platform === 'linux' && !st('webgpu').loads) {
    const missing = (r.webgpuLibraries ?? []).filter((l) => !l.path);
    if (missing.length)
      advice.push(`WebGPU: missing ${missing.map((l) => `${l.soname} (${l.pkg})`).join(', ')}. Install them: ${WEBGPU_APT_COMMAND}`);
    if (!env.gpuDevicePresent)
      advice.push(
        'WebGPU: no GPU device is visible (/dev/dri/renderD*, /dev/nvidia*); in a container, pass the GPU through (e.g. docker --gpus all).',
      );
    else if (!missing.length) {
      advice.push(
        `WebGPU: the libraries are present but no adapter was found. Vulkan driver manifests seen: ${r.vulkanIcds?.length ? r.vulkanIcds.join(', ') : 'none'}. ` +
          "With NVIDIA's driver, point the loader at its manifest: VK_DRIVER_FILES=/path/to/nvidia_icd.json. Mesa 22's lavapipe (CPU Vulkan, Debian bookworm) is refused by WebGPU; Mesa 25's is accepted but runs on the CPU.",
      );
    }
  }
  for (const k of r.kernels ?? []) {
    if (k.error) advice.push(`${k.provider}: the SAE graphs could not be checked (${k.error}).`);
    for (const g of k.graphs.filter((x) => x.kind === 'model' && x.differences.length > 0))
      advice.push(`${k.provider}: ${g.what}: ${g.differences.join('; ')}. Run this model with --provider cpu.`);
    if (k.graphs.some((g) => g.kind !== 'model' && g.differences.length > 0))
      advice.push(
        `${k.provider}: its SAE kernels give different numbers from the CPU's; runs fall back to the CPU (auto, runtime.fallback) or stop. Use --provider cpu, and report the ONNX Runtime version and GPU to ONNX Runtime.`,
      );
    for (const [what, graphs] of [
      ['the SAE graphs', k.graphs.filter((g) => g.kind !== 'model')],
      ['the model', k.graphs.filter((g) => g.kind === 'model')],
    ] as const) {
      const heavy = [...new Set(graphs.flatMap((g) => heavyOpsOnCpu(g.placement)))];
      if (heavy.length)
        advice.push(
          `${k.provider}: ONNX Runtime runs ${heavy.join(', ')} of ${what} on the CPU, with copies to and from the device on every batch: expect slower runs than the GPU could give.`,
        );
    }
  }
  if (r.auto.provider === 'cpu')
    advice.push('Runs use the CPU: correct, and fast on small models; a GPU provider above speeds up large ones.');
  return advice;
}

/**
 * Operators of the SAE graphs and of transformer blocks that do real work over [tokens x width] tensors: on
 * the CPU they mean host copies of those tensors. ONNX Runtime keeps shape arithmetic (Shape, Gather of
 * shapes, ...) on the CPU on purpose; those are not listed.
 */
const HEAVY_OPS = new Set([
  // the SAE graphs
  ...['MatMul', 'Gemm', 'TopK', 'ScatterElements', 'GatherElements', 'GatherND', 'NonZero', 'ReduceSum', 'Greater', 'Where', 'Relu'],
  // transformer blocks (elementwise operators and Gather are left out: ONNX Runtime keeps shape arithmetic on the CPU)
  ...['Softmax', 'LayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'RotaryEmbedding'],
  ...['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'ReduceMean', 'Pow', 'Sqrt', 'Erf', 'Sigmoid', 'Tanh'],
]);

/** The heavy operators placed on the CPU provider. */
export function heavyOpsOnCpu(placement: ProviderPlacement[]): string[] {
  const cpu = placement.find((p) => p.provider === 'CPUExecutionProvider');
  return cpu && placement.length > 1 ? Object.keys(cpu.ops).filter((op) => HEAVY_OPS.has(op)) : [];
}

/** The real machine; providers are probed in child processes, the graphs by `kernels` where given. */
export function realDoctorEnv(kernels?: DoctorEnv['kernels']): DoctorEnv {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand: the doctor reports a missing binary
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  let ortRoot: string | undefined;
  try {
    ortRoot = path.dirname(path.dirname(require.resolve('onnxruntime-node')));
  } catch {
    /* not installed */
  }
  const version = ortRoot ? (JSON.parse(fs.readFileSync(path.join(ortRoot, 'package.json'), 'utf8')).version as string) : undefined;
  const findLibrary = libraryFinder();
  return {
    platform: process.platform,
    arch: process.arch,
    ortVersion: version,
    backends: ort.listSupportedBackends(),
    probe: (p) => probeInChild(p),
    cudaBinariesInstalled: cudaBinariesInstalled(ortBinaryDir()),
    // .../node_modules/onnxruntime-node -> the folder holding node_modules
    installRoot: ortRoot ? path.dirname(path.dirname(ortRoot)) : undefined,
    gpuDevicePresent: gpuDevicePresent(),
    findLibrary,
    vulkanIcds: process.platform === 'linux' ? vulkanIcdFiles() : [],
    variables: process.env,
    kernels,
  };
}
