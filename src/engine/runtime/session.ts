import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import type { ExecutionProviderName } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { cudaBinariesInstalled, gpuDevicePresent, ProviderEnvironment } from './providers';

export interface SessionSettings {
  provider: ExecutionProviderName;
  /** 0 = ONNX Runtime's default (all cores). */
  threads: number;
}

/**
 * A session from an in-memory graph. `externalDataFolder` is where the graph's external weight files
 * (`*.onnx_data`, `*.onnx.data`) live: the original model's folder, since the graph was rewritten in memory.
 */
export async function createSession(
  model: Uint8Array, settings: SessionSettings, what: string, externalDataFolder?: string,
  /** Outputs to leave on the device (IO binding; see runtime/reduction.ts for which providers). */
  outputLocation?: ort.InferenceSession.SessionOptions['preferredOutputLocation'],
): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: settings.provider === 'cpu' ? ['cpu'] : [settings.provider, 'cpu'],
    // 'extended': every fusion that matters here; 'all' only adds NCHWc layouts (CNNs) and triples session creation
    graphOptimizationLevel: 'extended',
    executionMode: 'sequential',
    enableCpuMemArena: true,
  };
  if (outputLocation && settings.provider !== 'cpu') options.preferredOutputLocation = outputLocation;
  if (externalDataFolder) options.extra = { session: { model_external_initializers_file_folder_path: externalDataFolder } };
  // ONNX Runtime's own default can leave cores idle (seen: 1 thread on a 2-vCPU VM, 40% slower): use them all
  options.intraOpNumThreads = settings.threads > 0 ? settings.threads : os.availableParallelism();
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    throw new SaeDiffError(`ONNX Runtime could not load ${what} on ${settings.provider}: ${(e as Error).message}`, {
      hint: settings.provider === 'cpu' ? 'The graph may use operators this ONNX Runtime does not support; re-export with opset 14-21.' : 'Try --provider cpu.',
    });
  }
}

/** A one-node graph (Identity) to check that a provider loads. */
function probeModel(): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }] } } } });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'probe', node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'id' }], input: [vi('x')], output: [vi('y')] },
  }).finish();
}

const loadCache = new Map<ExecutionProviderName, Promise<boolean>>();

/** The real machine: the platform, the installed binaries, and a probe session per provider. */
export function probeEnvironment(): ProviderEnvironment {
  return {
    platform: process.platform,
    arch: process.arch,
    cudaBinariesInstalled: cudaBinariesInstalled(),
    gpuDevicePresent: gpuDevicePresent(),
    canLoad(provider) {
      let p = loadCache.get(provider);
      if (!p) {
        p = ort.InferenceSession.create(probeModel(), { executionProviders: [provider] })
          .then(async (s) => { await s.release(); return true; })
          .catch(() => false);
        loadCache.set(provider, p);
      }
      return p;
    },
  };
}
