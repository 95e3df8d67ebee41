/**
 * The doctor's look at the SAE graphs on one GPU provider, in a child process (runtime/childScript.ts):
 * kernelCheck.ts's check for each architecture (dense path, and the sparse path once), with ONNX Runtime
 * logging at verbose severity so that its node placements say which operators the provider leaves to the CPU;
 * given a config, also its base model, hooked as a run hooks it, against the CPU on one small batch.
 * Child usage: node kernelProbe.js <provider> [config.yaml]  -> stderr: ONNX Runtime's log, a marker line before each
 * graph; stdout: one JSON line.
 */
import type { ExecutionProviderName } from '../config/types';
import { bufferLimit } from '../runtime/bufferLimit';
import { runChildScript, scriptPath } from '../runtime/childScript';
import { HookedModel, hostData, releaseActivations } from '../model/runner';
import { loadRunConfig } from '../model/loadRunConfig';
import type { GraphProbe, KernelProbe } from '../runtime/doctor';
import type { SessionSettings } from '../runtime/session';
import { parsePlacements } from '../runtime/nodePlacement';
import type { Reduction } from '../runtime/reduction';
import type { SaeArchitecture } from '../sae/types';
import { cosineOf } from '../metrics/cosine';
import { checkKernels } from './kernelCheck';
import { resolveModels } from './models';

/** Every architecture on the dense path (GPU providers' default), the standard SAE on the sparse path too. */
const PLAN: { reduction: Reduction; architecture: SaeArchitecture }[] = [
  ...(['standard', 'jumprelu', 'topk', 'gated'] as const).map((architecture) => ({ reduction: 'dense' as const, architecture })),
  { reduction: 'sparse', architecture: 'standard' },
];
/** Above 2048, as kernelCheck.ts checks a wide run: the top-k sets in blocks, a padded last one (sae/topKMembership.ts). */
const WIDTH = 2304;
const MARKER = '@@sae-diff graph: ';

type ProbeLine = Pick<GraphProbe, 'what' | 'differences' | 'kind' | 'note'>;

/** The checks in this process, each announced on stderr before ONNX Runtime logs its placements. */
export async function probeKernelsHere(provider: ExecutionProviderName, configPath?: string): Promise<{ graphs: ProbeLine[] }> {
  const settings = { provider, threads: 0, maxBufferBytes: bufferLimit(provider).bytes, verboseLog: true };
  const graphs: ProbeLine[] = [];
  // a pipe's writes are synchronous on Linux: the marker lands before the session's log lines
  const announce = (what: string) => process.stderr.write(`\n${MARKER}${what}\n`);
  for (const { reduction, architecture } of PLAN) {
    const what = `${architecture} SAE, ${reduction} path`;
    announce(what);
    const check = await checkKernels(settings, reduction, [{ architecture, normalization: 'none', applyBDecToInput: true }], WIDTH, {
      k: 64,
      contexts: 10,
    });
    graphs.push({ what, differences: check.graphs[0].differences });
  }
  if (configPath) {
    const what = 'the base model of the config, hooked';
    announce(what);
    graphs.push({ what, ...(await runBaseModel(configPath, settings)), kind: 'model' });
  }
  return { graphs };
}

/**
 * Below this cosine between a token's hooked activations on the provider and on the CPU, the model computes
 * differently there. Float16 models on a GPU stay above it; a cosine this far from 1 would move dense_cosine
 * by more than docs/metrics.md's 2e-3 layer tolerance.
 */
const MODEL_MIN_COSINE = 0.999;

/**
 * The config's base model, hooked as a run hooks it, on one small batch on the provider and on the CPU: the
 * smallest per-token cosine between the two, and why it failed when it did.
 */
async function runBaseModel(configPath: string, settings: SessionSettings): Promise<Pick<GraphProbe, 'differences' | 'note'>> {
  try {
    const config = loadRunConfig(configPath);
    const { files } = resolveModels(config, () => {});
    const hooks = { targets: config.layers.targets, hookPoint: config.layers.hookPoint, tensorNames: config.layers.tensorNames };
    // 2 prompts of 16 tokens: ids 1-16 exist in every vocabulary
    const batch = { batch: 2, seq: 16, ids: Int32Array.from({ length: 32 }, (_, i) => 1 + (i % 16)), mask: new Uint8Array(32).fill(1) };
    const hooked = async (on: SessionSettings) => {
      const model = await HookedModel.load(files.base.source, hooks, on);
      try {
        const layers = await model.run(batch);
        const host = new Map<number, Float32Array>();
        for (const [layer, a] of layers) host.set(layer, (await hostData(a)).slice());
        releaseActivations(layers.values());
        return host;
      } finally {
        await model.release();
      }
    };
    const device = await hooked(settings);
    const cpu = await hooked({ provider: 'cpu', threads: settings.threads });
    let worst = { cosine: 1, layer: -1 };
    for (const [layer, reference] of cpu) {
      const d = reference.length / (batch.batch * batch.seq);
      const values = device.get(layer)!;
      for (let t = 0; t < batch.batch * batch.seq; t++) {
        const cosine = cosineOf(reference, values, t * d, (t + 1) * d);
        if (!(cosine >= worst.cosine)) worst = { cosine, layer };
      }
    }
    const note = `hooked activations against the CPU's: smallest cosine ${worst.cosine.toFixed(6)} over ${cpu.size} layers x ${batch.batch * batch.seq} tokens`;
    return {
      differences:
        worst.cosine >= MODEL_MIN_COSINE
          ? []
          : [`its activations differ from the CPU's at layer ${worst.layer} (cosine ${worst.cosine.toFixed(6)})`],
      note,
    };
  } catch (e) {
    return { differences: [`it did not run: ${(e as Error).message.split('\n')[0]}`] };
  }
}

const SCRIPT = scriptPath('kernelProbe', __dirname, __filename);

/** Runs the probe in a child Node (runtime/childScript.ts). */
export async function probeKernelsInChild(provider: ExecutionProviderName, configPath?: string, timeoutMs = 300_000): Promise<KernelProbe> {
  const t0 = performance.now();
  const child = await runChildScript(SCRIPT, configPath ? [provider, configPath] : [provider], timeoutMs, 256 << 20);
  const seconds = (performance.now() - t0) / 1000;
  const result = child.result as { graphs: ProbeLine[] } | undefined;
  if (!result?.graphs) {
    const last = child.stderr.trim().split('\n').slice(-3).join(' | ');
    return { graphs: [], error: `the probe process ${child.failure}${last ? `: ${last}` : ''}`, seconds };
  }
  // the log after each marker is that graph's (the CPU reference sessions log nothing at this severity)
  const sections = new Map(
    child.stderr
      .split(MARKER)
      .slice(1)
      .map((s) => [s.slice(0, s.indexOf('\n')), s] as const),
  );
  return { graphs: result.graphs.map((g) => ({ ...g, placement: parsePlacements(sections.get(g.what) ?? '') })), seconds };
}

// In a bundle every module shares the bundle's `module`, so also check that this file is the script run.
if (require.main === module && /kernelProbe\.[jt]s$/.test(process.argv[1] ?? '')) {
  probeKernelsHere(process.argv[2] as ExecutionProviderName, process.argv[3]).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
