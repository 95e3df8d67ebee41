// `npm run package [-- --target linux-x64 …]`: one VSIX per VS Code target under vsix/, each carrying only
// its own platform's onnxruntime-node binaries. vsce reads .vscodeignore (an allow-list) plus, through a
// per-target copy of it (--ignoreFile), the binary files of that target. The build runs once, through
// vsce's `vscode:prepublish` (which rebuilds only what is stale).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const ortPkg = JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8'));
const vsce = require.resolve('@vscode/vsce/vsce');

// VS Code target -> onnxruntime-node's bin/napi-v6/<platform>/<arch> folder.
export const TARGETS = {
  'linux-x64': ['linux', 'x64'],
  'linux-arm64': ['linux', 'arm64'],
  'darwin-arm64': ['darwin', 'arm64'],
  'darwin-x64': ['darwin', 'x64'],
  'win32-x64': ['win32', 'x64'],
  'win32-arm64': ['win32', 'arm64'],
};

/**
 * Files of a binary folder that a VSIX must not carry:
 * - the CUDA / TensorRT execution providers (and the shared-provider bridge they need), which
 *   onnxruntime-node's install script downloads on Linux x64 (hundreds of MB; they also need the CUDA
 *   runtime and cuDNN, so a user installs them with npm, see the README);
 * - libonnxruntime.1.<version>.dylib on macOS: a byte-for-byte copy of libonnxruntime.1.dylib (a symlink
 *   upstream that npm's tarball flattens); the binding links @rpath/libonnxruntime.1.dylib only.
 */
const NOT_SHIPPED = [/onnxruntime_providers_(cuda|tensorrt|shared)/, /^libonnxruntime\.\d+\.\d+\.\d+\.dylib$/];

/** The binary files (repository-relative) of one target, or undefined when onnxruntime-node has none. */
export function targetBinaries(target) {
  const [os, arch] = TARGETS[target];
  const bin = join(root, 'node_modules/onnxruntime-node/bin');
  for (const napi of readdirSync(bin).sort().reverse()) {
    const dir = join(bin, napi, os, arch);
    if (!existsSync(dir)) continue;
    return readdirSync(dir)
      .filter((f) => !NOT_SHIPPED.some((re) => re.test(f)))
      .map((f) => `node_modules/onnxruntime-node/bin/${napi}/${os}/${arch}/${f}`);
  }
  return undefined;
}

export function vsixPath(target) {
  return join(root, 'vsix', `${pkg.name}-${target}-${pkg.version}.vsix`);
}

function main() {
  const args = process.argv.slice(2);
  const asked = args.flatMap((a, i) => (args[i - 1] === '--target' ? a.split(',') : []));
  for (const t of asked) {
    if (!TARGETS[t]) {
      console.error(`package: unknown target '${t}' (targets: ${Object.keys(TARGETS).join(', ')})`);
      process.exit(2);
    }
  }
  mkdirSync(join(root, 'vsix'), { recursive: true });
  const skipped = [];
  for (const target of asked.length ? asked : Object.keys(TARGETS)) {
    const binaries = targetBinaries(target);
    if (!binaries?.some((f) => f.endsWith('onnxruntime_binding.node'))) {
      // a VSIX without the native binding would install and then fail on the first run
      const why = `onnxruntime-node ${ortPkg.version} ships no ${TARGETS[target].join('/')} binaries`;
      if (asked.length) {
        console.error(`package: cannot build ${target}: ${why}.`);
        process.exit(1);
      }
      skipped.push(`${target} (${why})`);
      continue;
    }
    const ignoreFile = join(root, 'vsix', `.vscodeignore-${target}`);
    writeFileSync(
      ignoreFile,
      `${readFileSync(join(root, '.vscodeignore'), 'utf8')}\n# ${target}\n${binaries.map((f) => `!${f}`).join('\n')}\n`,
    );
    const out = vsixPath(target);
    rmSync(out, { force: true });
    // stdin closed: a vsce question ("continue? [y/N]") fails instead of waiting
    const run = spawnSync(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignoreFile, '--out', out], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    rmSync(ignoreFile, { force: true });
    process.stdout.write(run.stdout);
    process.stderr.write(run.stderr);
    if (run.status !== 0) {
      console.error(`package: vsce failed for ${target} (see above)`);
      process.exit(1);
    }
    // a warning is a defect of the package (missing field, unbundled files…): fix it rather than ship it
    if (/\bWARNING\b/.test(run.stdout + run.stderr)) {
      rmSync(out, { force: true });
      console.error(`package: vsce warned for ${target} (see above); no VSIX written`);
      process.exit(1);
    }
  }
  for (const s of skipped) console.log(`package: skipped ${s}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
