/**
 * The doctor's look at the SAE graphs on one GPU provider, in a child process (runtime/childScript.ts):
 * kernelCheck.ts's check for each architecture (dense path, and the sparse path once), with ONNX Runtime
 * logging at verbose severity so that its node placements say which operators the provider leaves to the CPU;
 * given a config, also its base model, hooked as a run hooks it (run once, not compared).
 * Child usage: node kernelProbe.js <provider> [config.yaml]  -> stderr: ONNX Runtime's log, a marker line before each
 * graph; stdout: one JSON line.
 */
import type { ExecutionProviderName } from '../config/types';
import { bufferLimit } from '../runtime/bufferLimit';
import { runChildScript, scriptPath } from '../runtime/childScript';
import { HookedModel, releaseActivations } from '../model/runner';
import { loadRunConfig } from '../model/loadRunConfig';
import type { GraphProbe, KernelProbe } from '../runtime/doctor';
import type { SessionSettings } from '../runtime/session';
import { parsePlacements } from '../runtime/nodePlacement';
import type { Reduction } from '../runtime/reduction';
import type { SaeArchitecture } from '../sae/types';
import { checkKernels } from './kernelCheck';
import { resolveModels } from './models';

/** Every architecture on the dense path (GPU providers' default), the standard SAE on the sparse path too. */
const PLAN: { reduction: Reduction; architecture: SaeArchitecture }[] = [
  ...(['standard', 'jumprelu', 'topk', 'gated'] as const).map((architecture) => ({ reduction: 'dense' as const, architecture })),
  { reduction: 'sparse', architecture: 'standard' },
];
/** Wide enough for WebGPU's global-memory TopK (above 2048), as kernelCheck.ts checks a wide run. */
const WIDTH = 2304;
const MARKER = '@@sae-diff graph: ';

type ProbeLine = Pick<GraphProbe, 'what' | 'differences' | 'compared'>;

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
    graphs.push({ what, differences: await runBaseModel(configPath, settings), compared: false });
  }
  return { graphs };
}

/** The config's base model, hooked as a run hooks it, on one small batch: [] when it ran, else why not. */
async function runBaseModel(configPath: string, settings: SessionSettings): Promise<string[]> {
  try {
    const config = loadRunConfig(configPath);
    const { files } = resolveModels(config, () => {});
    const hooks = { targets: config.layers.targets, hookPoint: config.layers.hookPoint, tensorNames: config.layers.tensorNames };
    const model = await HookedModel.load(files.base.onnxPath, hooks, settings);
    try {
      // 2 prompts of 16 tokens: ids 1-16 exist in every vocabulary
      const ids = Int32Array.from({ length: 32 }, (_, i) => 1 + (i % 16));
      releaseActivations((await model.run({ batch: 2, seq: 16, ids, mask: new Uint8Array(32).fill(1) })).values());
    } finally {
      await model.release();
    }
    return [];
  } catch (e) {
    return [`it did not run: ${(e as Error).message.split('\n')[0]}`];
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
