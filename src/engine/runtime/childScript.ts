/**
 * The engine's probes run in a child Node: a provider's native library can print only to stderr (Dawn's
 * "Couldn't load Vulkan") or crash the process, and neither should reach the CLI's or the extension
 * host's own process. Each probe file is also a script, which a bundle emits as its own entry point beside
 * itself (the extension bundle imports `vscode` and cannot run as a child).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** A probe's script: `<name>.js` beside the running bundle, else the module file itself (unbundled). */
export function scriptPath(name: string, dirname: string, filename: string): string {
  return [path.join(dirname, `${name}.js`), filename].find((f) => fs.existsSync(f)) ?? filename;
}

export interface ChildResult {
  /** The last line of stdout, parsed as JSON; undefined when there is none or it is not JSON. */
  result?: unknown;
  stderr: string;
  /** Why the child gave no result: it timed out, exited with an error, or printed nothing. */
  failure: string;
}

/** Runs a probe script with its arguments (ELECTRON_RUN_AS_NODE makes VS Code's binary act as Node). */
export function runChildScript(script: string, args: string[], timeoutMs: number, maxBuffer: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, timeout: timeoutMs, maxBuffer },
      (err, stdout, stderr) => {
        const failure = err
          ? err.killed
            ? `timed out after ${timeoutMs / 1000} s`
            : `exited with ${err.code ?? err.signal}`
          : 'printed no result';
        let result: unknown;
        try {
          result = JSON.parse(stdout.trim().split('\n').pop() ?? '');
        } catch {
          result = undefined;
        }
        resolve({ result, stderr, failure });
      },
    );
  });
}
