/**
 * Tries to create a one-node session on one execution provider, in a child process (runtime/childScript.ts).
 * Child usage: node probeProvider.js <provider>  -> one JSON line {loads, error?}.
 */
import * as ort from 'onnxruntime-node';
import { runChildScript, scriptPath } from './childScript';
import { fullFloat32OnCuda } from './providers';
import { probeModel } from './session';
import { probeProviderEntry } from './webgpuOptions';

export interface ProbeResult {
  loads: boolean;
  error?: string;
  nativeLog?: string;
}

/** Tries the provider in this process: a session that runs once (creating it is where providers fail). */
export async function probeHere(provider: string): Promise<ProbeResult> {
  try {
    fullFloat32OnCuda(provider);
    const s = await ort.InferenceSession.create(probeModel(), { executionProviders: [probeProviderEntry(provider)] });
    await s.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
    await s.release();
    return { loads: true };
  } catch (e) {
    return { loads: false, error: (e as Error).message.trim() };
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

const SCRIPT = scriptPath('probeProvider', __dirname, __filename);

/** Runs the probe in a child Node (runtime/childScript.ts). */
export async function probeInChild(provider: string, timeoutMs = 60_000): Promise<ProbeResult> {
  const child = await runChildScript(SCRIPT, [provider], timeoutMs, 4 << 20);
  const nativeLog =
    child.stderr
      .replace(ANSI, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-6)
      .join('\n') || undefined;
  const result = child.result as ProbeResult | undefined;
  return result && typeof result.loads === 'boolean'
    ? { ...result, nativeLog }
    : { loads: false, error: `the probe process ${child.failure}`, nativeLog };
}

// In a bundle every module shares the bundle's `module`, so also check that this file is the script run.
if (require.main === module && /probeProvider\.[jt]s$/.test(process.argv[1] ?? '')) {
  probeHere(process.argv[2]).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
