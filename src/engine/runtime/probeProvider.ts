/**
 * Tries to create a one-node session on one execution provider, in a child process: a provider's
 * native library can print only to stderr (Dawn's "Couldn't load Vulkan") or crash the process, and
 * neither should reach the CLI's or the extension host's own process.
 * Child usage: node probeProvider.js <provider>  -> one JSON line {loads, error?}.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { fullFloat32OnCuda } from './providers';
import { probeModel } from './session';

export interface ProbeResult {
  loads: boolean;
  error?: string;
  nativeLog?: string;
}

/** Tries the provider in this process: a session that runs once (creating it is where providers fail). */
export async function probeHere(provider: string): Promise<ProbeResult> {
  try {
    fullFloat32OnCuda(provider);
    const s = await ort.InferenceSession.create(probeModel(), { executionProviders: [provider] });
    await s.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
    await s.release();
    return { loads: true };
  } catch (e) {
    return { loads: false, error: (e as Error).message.trim() };
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * This file as a script: itself when unbundled; a bundle must emit it as its own entry point
 * `probeProvider.js` beside the bundle (the bundle itself imports `vscode` and cannot run as a child).
 */
const SCRIPT = [path.join(__dirname, 'probeProvider.js'), __filename].find((f) => fs.existsSync(f)) ?? __filename;

/** Runs the probe in a child Node (ELECTRON_RUN_AS_NODE makes VS Code's binary act as one). */
export function probeInChild(provider: string, timeoutMs = 60_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT, provider],
      { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const nativeLog =
          stderr
            .replace(ANSI, '')
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
            .slice(-6)
            .join('\n') || undefined;
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve({ ...(JSON.parse(line) as ProbeResult), nativeLog });
        } catch {
          const why = err
            ? err.killed
              ? `timed out after ${timeoutMs / 1000} s`
              : `exited with ${err.code ?? err.signal}`
            : 'printed no result';
          resolve({ loads: false, error: `the probe process ${why}`, nativeLog });
        }
      },
    );
  });
}

// In a bundle every module shares the bundle's `module`, so also check that this file is the script run.
if (require.main === module && /probeProvider\.[jt]s$/.test(process.argv[1] ?? '')) {
  probeHere(process.argv[2]).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
