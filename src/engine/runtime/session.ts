import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import type { ExecutionProviderName } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { cudaBinariesInstalled, fullFloat32OnCuda, gpuDevicePresent, nvidiaGpuPresent, ProviderEnvironment } from './providers';
import { profileOptions } from './ortProfile';
import { probeProviderEntry, webgpuProvider } from './webgpuOptions';

export interface SessionSettings {
  provider: ExecutionProviderName;
  /** 0 = ONNX Runtime's default (all cores). */
  threads: number;
  /** The largest tensor the provider may hold (runtime/bufferLimit.ts); undefined: no limit. */
  maxBufferBytes?: number;
  /**
   * ONNX Runtime logs at verbose severity (to stderr): among much else, which provider runs each node
   * (runtime/nodePlacement.ts). For the doctor's child process only: a run's terminal would drown.
   */
  verboseLog?: boolean;
}

/**
 * An in-memory graph and the bytes of its external initialisers (ONNX external data whose `location`
 * is a `path` here): ONNX Runtime copies each into its own tensor once, without a protobuf in between.
 */
export interface GraphWithWeights {
  model: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
  /**
   * Weights the graph declares as inputs rather than initialisers, fed with every run by createSession's
   * session. ONNX Runtime then holds no copy of its own and builds the session at once: a 65,536 x 2048 SAE's
   * 1 GB as in-memory external data took 9-10 s of session creation and a second gigabyte, as inputs 0.01 s
   * and none, for products within 3% of the same speed (CPU; measured on the 2-core VM). Only where weights
   * are not pre-packed anyway (over PREPACK_MAX_BYTES) and on the CPU, where a fed tensor is not copied.
   */
  weightInputs?: { name: string; data: Float32Array; dims: number[] }[];
}

/**
 * External weights above this many bytes are not pre-packed: ONNX Runtime's CPU GEMM pre-packing keeps a
 * second, packed copy of each weight matrix per consuming kernel (measured: +1.6 GB and +13 s CPU at
 * session creation for one 65,536 x 2048 SAE) for about 10% faster products; above this size the bounded
 * RAM matters more (three such SAEs: 4.8 GB saved).
 *
 * Below it, short runs pre-pack too, because pre-packing also keeps the CPU's products independent of how
 * many rows are multiplied at once. Measured (2 threads, ONNX Runtime 1.30): unpacked, a prompt's hooked
 * activations differ in their last bits between a batch of 1 prompt and one of 8, and an SAE's codes between
 * a chunk of 5 rows and one of 512; pre-packed, or on 1 thread, they are identical. Ties between tokens of a
 * shared prefix then break differently, and a merged shard's contexts no longer equal the unsharded run's
 * (shard.test.ts). That holds although pre-packing is most of a short run's load on the 2-core VM, where
 * touching fresh memory costs about 5 ms per MB: unpacked, the large workload's 575 MB model loaded in 0.2 s
 * instead of 2.7-2.9 s (its weights left in the file's mapped pages: 27 MB of anonymous memory instead of
 * 585 MB), and a 1024 x 16,384 SAE in 0.14-0.28 s fed instead of 3.1-3.8 s. Fed weights (over this size) are
 * multiplied unpacked, so runs with SAEs that large keep equal contexts across shards only up to such ties.
 */
export const PREPACK_MAX_BYTES = 512 * 1024 * 1024;

/**
 * ONNX Runtime's CPU provider has no float16 GEMM on x64: it wraps a half-precision model's products in Casts
 * that convert each weight to float32 on every run, and the memory arena keeps every converted weight
 * reserved, so the model is held again in float32. Measured on a 1.1B fp16 model (2-core VM, 16 prompts x
 * 128 tokens): with the arena, 5.2 GB anonymous memory and 41-52 s for two batches; without, 0.8-1.4 GB and
 * 57-61 s. The arena stays on while the float32 copies of base and one fine-tune (2 x 2 x the half bytes)
 * take at most half of the machine's memory; above that, memory wins.
 */
export function halfWeightsKeepArena(halfBytes: number, machineBytes: number): boolean {
  return 2 * 2 * halfBytes <= machineBytes / 2;
}

/** Whether a graph's session will be fed these very arrays' memory (views of fed weights): holding them elsewhere costs nothing. */
export function feedsArraysOf(graph: GraphWithWeights, arrays: Float32Array[]): boolean {
  const fed = new Set<ArrayBufferLike>((graph.weightInputs ?? []).map((w) => w.data.buffer));
  return arrays.every((a) => fed.has(a.buffer));
}

/** Bytes of a graph's weights held outside its protobuf (external data and fed inputs). */
export function weightBytes(graph: GraphWithWeights): number {
  return [...graph.externalData, ...(graph.weightInputs ?? [])].reduce((n, e) => n + e.data.byteLength, 0);
}

/** How a graph's session is created: the choices of createSession, as a pure function of the graph and the provider. */
export interface SessionPlan {
  /** Where the graph's external weight files live (see createSession). */
  externalDataFolder?: string;
  /** Outputs to leave on the device (IO binding; see runtime/reduction.ts for which providers). */
  outputLocation?: ort.InferenceSession.SessionOptions['preferredOutputLocation'];
  /** Bytes of float16 / bfloat16 weights in the graph. */
  halfWeightBytes?: number;
  /** WebGPU: nodes to run on the CPU (embedding lookups whose table is above the buffer limit; model/oversizedWeights.ts). */
  cpuNodes?: string[];
}

export function sessionOptions(
  graph: Uint8Array | GraphWithWeights,
  settings: SessionSettings,
  plan: SessionPlan = {},
  totalMemory = os.totalmem(),
): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders:
      settings.provider === 'cpu'
        ? ['cpu']
        : settings.provider === 'webgpu'
          ? [webgpuProvider(plan.cpuNodes), 'cpu']
          : [settings.provider, 'cpu'],
    // 'extended': every fusion that matters here; 'all' only adds NCHWc layouts (CNNs) and triples session creation
    graphOptimizationLevel: 'extended',
    executionMode: 'sequential',
    enableCpuMemArena: true,
  };
  const session: Record<string, string> = {};
  if (!(graph instanceof Uint8Array)) {
    if (graph.externalData.length > 0) options.externalData = graph.externalData;
    if (weightBytes(graph) > PREPACK_MAX_BYTES) {
      session.disable_prepacking = '1';
      // a wide SAE's [tokens, width] intermediates (134 MB each at 512 x 65,536) would stay reserved in
      // each session's arena between runs: freed after each run instead, so only the running SAE holds them
      options.enableCpuMemArena = false;
    }
  }
  if (settings.provider === 'cpu' && !halfWeightsKeepArena(plan.halfWeightBytes ?? 0, totalMemory)) options.enableCpuMemArena = false;
  if (plan.outputLocation && settings.provider !== 'cpu') options.preferredOutputLocation = plan.outputLocation;
  if (plan.externalDataFolder) session.model_external_initializers_file_folder_path = plan.externalDataFolder;
  if (Object.keys(session).length > 0) options.extra = { session };
  if (settings.verboseLog) options.logSeverityLevel = 0;
  // ONNX Runtime's own default can leave cores idle (seen: 1 thread on a 2-vCPU VM, 40% slower): use them all
  options.intraOpNumThreads = settings.threads > 0 ? settings.threads : os.availableParallelism();
  return options;
}

/**
 * A session from an in-memory graph. `plan.externalDataFolder` is where the graph's external weight files
 * (`*.onnx_data`, `*.onnx.data`) live: the original model's folder, since the graph was rewritten in memory.
 */
export async function createSession(
  graph: Uint8Array | GraphWithWeights,
  settings: SessionSettings,
  what: string,
  plan: SessionPlan = {},
): Promise<ort.InferenceSession> {
  const model = graph instanceof Uint8Array ? graph : graph.model;
  fullFloat32OnCuda(settings.provider);
  const options = { ...sessionOptions(graph, settings, plan), ...profileOptions(what) };
  const fed = graph instanceof Uint8Array ? [] : (graph.weightInputs ?? []);
  try {
    const session = await ort.InferenceSession.create(model, options);
    return fed.length > 0 ? feedingWeights(session, fed) : session;
  } catch (e) {
    throw new SaeDiffError(`ONNX Runtime could not load ${what} on ${settings.provider}: ${(e as Error).message}`, {
      hint:
        settings.provider === 'cpu'
          ? 'The graph may use operators this ONNX Runtime does not support; re-export with opset 14-21.'
          : 'Try --provider cpu.',
    });
  }
}

/** The session with its weight inputs added to every run's feeds (the tensors wrap the weights; nothing is copied). */
function feedingWeights(session: ort.InferenceSession, weights: NonNullable<GraphWithWeights['weightInputs']>): ort.InferenceSession {
  const feeds = Object.fromEntries(weights.map((w) => [w.name, new ort.Tensor('float32', w.data, w.dims)]));
  const run = session.run.bind(session) as (
    f: ort.InferenceSession.FeedsType,
    o?: ort.InferenceSession.RunOptions,
  ) => Promise<ort.InferenceSession.ReturnType>;
  session.run = ((f: ort.InferenceSession.FeedsType, o?: ort.InferenceSession.RunOptions) =>
    run({ ...f, ...feeds }, o)) as ort.InferenceSession['run'];
  return session;
}

/**
 * A one-node graph, y = Identity(x), float32: of shape [1] to check that a provider loads (here, and in
 * runtime/probeProvider.ts's child); of any shape (dims undefined) to bring a device tensor to the host.
 */
export function identityModel(dims: number[] | undefined): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const shape = dims ? { shape: { dim: dims.map((dimValue) => ({ dimValue })) } } : {};
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, ...shape } } });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'identity',
      node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'id' }],
      input: [vi('x')],
      output: [vi('y')],
    },
  }).finish();
}

export const probeModel = (): Uint8Array => identityModel([1]);

const loadCache = new Map<ExecutionProviderName, Promise<boolean>>();

/** The real machine: the platform, the installed binaries, and a probe session per provider. */
export function probeEnvironment(): ProviderEnvironment {
  return {
    platform: process.platform,
    arch: process.arch,
    cudaBinariesInstalled: cudaBinariesInstalled(),
    gpuDevicePresent: gpuDevicePresent(),
    nvidiaGpuPresent: nvidiaGpuPresent(),
    canLoad(provider) {
      let p = loadCache.get(provider);
      if (!p) {
        fullFloat32OnCuda(provider);
        p = ort.InferenceSession.create(probeModel(), { executionProviders: [probeProviderEntry(provider)] })
          .then(async (s) => {
            await s.release();
            return true;
          })
          .catch(() => false);
        loadCache.set(provider, p);
      }
      return p;
    },
  };
}
