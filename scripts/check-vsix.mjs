// Checks a built VSIX (a file, or --target T for vsix/sae-diff-T-<version>.vsix; default: this machine's target):
// size and file count within the targets, everything a run needs present (bundles, worker, webview,
// schema, icon, onnxruntime-node with this target's binding and nothing of other targets or CUDA), then
// unpacks it and runs the demo with the CLI bundle inside it, so ONNX Runtime must load from the VSIX's
// own files (on the VSIX's own platform). `node scripts/check-vsix.mjs [file.vsix | --target T] [--no-run]`;
// exit 1 with the reasons on failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;
// Windows packages carry DirectML.dll and the DirectX shader compiler (38 MB unpacked) beside ONNX Runtime
const MAX_BYTES = { 'win32-x64': 35 * MB, 'win32-arm64': 35 * MB, default: 20 * MB };
const MAX_FILES = 100;

/** The entries of a zip file (central directory; stored or deflated entries). */
export function readZip(buf) {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const skip = nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.push({
      name,
      size,
      data() {
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + compressed);
        return method === 0 ? raw : inflateRawSync(raw);
      },
    });
    p += 46 + skip;
  }
  return entries;
}

export function checkVsix(file, target) {
  const [os, arch] = target.split('-');
  const errors = [];
  const bytes = statSync(file).size;
  const entries = readZip(readFileSync(file));
  const names = new Set(entries.map((e) => e.name));
  const maxBytes = MAX_BYTES[target] ?? MAX_BYTES.default;
  if (bytes >= maxBytes) errors.push(`${(bytes / MB).toFixed(1)} MB, over the ${maxBytes / MB} MB target`);
  if (entries.length >= MAX_FILES) errors.push(`${entries.length} files, over the ${MAX_FILES} target`);
  const ort = 'extension/node_modules/onnxruntime-node';
  const binDir = `${ort}/bin/napi-v6/${os}/${arch}`;
  const required = [
    'extension/package.json',
    'extension/dist/extension.js',
    'extension/dist/runWorker.js',
    'extension/dist/probeProvider.js',
    'extension/dist/kernelProbe.js',
    'extension/dist/cli.js',
    'extension/dist/sae-diff.schema.json',
    'extension/media/icon.png',
    'extension/media/webview/main.js',
    'extension/media/webview/main.css',
    'extension/LICENSE.txt',
    `${ort}/package.json`,
    `${ort}/dist/index.js`,
    `${ort}/dist/binding.js`,
    `${ort}/dist/backend.js`,
    `${binDir}/onnxruntime_binding.node`,
    ...(os === 'linux'
      ? [`${binDir}/libonnxruntime.so.1`]
      : os === 'darwin'
        ? [`${binDir}/libonnxruntime.1.dylib`]
        : [`${binDir}/onnxruntime.dll`]),
    'extension/node_modules/onnxruntime-common/package.json',
    'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
    'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
  ];
  for (const r of required) if (!names.has(r)) errors.push(`missing ${r}`);
  for (const n of names) {
    if (n.includes('/bin/napi-') && !n.startsWith(`${binDir}/`)) errors.push(`another target's binary: ${n}`);
    if (/onnxruntime_providers_(cuda|tensorrt)/.test(n)) errors.push(`CUDA provider library (users install it with npm): ${n}`);
    if (/\.(map|ts)$/.test(n) || /^extension\/(src|test|webview|bench|out|demo)\//.test(n)) errors.push(`source, test or map file: ${n}`);
    if (n.startsWith('extension/node_modules/') && !/^extension\/node_modules\/onnxruntime-(node|common)\//.test(n))
      errors.push(`unbundled dependency: ${n}`);
  }
  // the manifest's entry points resolve inside the VSIX
  const manifest = JSON.parse(
    entries
      .find((e) => e.name === 'extension/package.json')
      ?.data()
      .toString('utf8') ?? '{}',
  );
  const inVsix = (rel) => names.has(`extension/${rel.replace(/^\.\//, '')}`);
  if (manifest.main && !inVsix(manifest.main)) errors.push(`package.json main ${manifest.main} is not in the VSIX`);
  if (manifest.icon && !inVsix(manifest.icon)) errors.push(`package.json icon ${manifest.icon} is not in the VSIX`);
  for (const v of manifest.contributes?.yamlValidation ?? [])
    if (!inVsix(v.url)) errors.push(`yamlValidation url ${v.url} is not in the VSIX`);
  return { errors, bytes, entries };
}

/** Unpacks the VSIX and runs the demo config with its CLI bundle (only on the VSIX's own platform). */
function runFromVsix(entries) {
  const dir = mkdtempSync(join(tmpdir(), 'sae-diff-vsix-'));
  try {
    for (const e of entries) {
      if (e.name.endsWith('/')) continue;
      mkdirSync(dirname(join(dir, e.name)), { recursive: true });
      writeFileSync(join(dir, e.name), e.data());
    }
    const out = join(dir, 'demo.sae-report.json');
    execFileSync(
      process.execPath,
      [join(dir, 'extension/dist/cli.js'), 'run', join(root, 'demo/demo.sae-diff.yaml'), '--provider', 'cpu', '--out', out],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_PATH: '' } },
    );
    const report = JSON.parse(readFileSync(out, 'utf8'));
    if (report.complete !== true || report.comparisons?.[0]?.layers?.length !== 6)
      return 'the demo run from the VSIX wrote an incomplete report';
    return undefined;
  } catch (e) {
    return `the demo run from the VSIX failed: ${String(e.stderr ?? e.message)
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ')}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  const args = process.argv.slice(2);
  const target = `${process.platform}-${process.arch}`; // VS Code's target names match Node's
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const asked = args[args.indexOf('--target') + 1];
  const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--target');
  const file = positional[0] ?? join(root, 'vsix', `${pkg.name}-${args.includes('--target') ? asked : target}-${pkg.version}.vsix`);
  const fileTarget = /-(linux|darwin|win32)-(x64|arm64)-/.exec(file)?.slice(1).join('-') ?? target;
  const { errors, bytes, entries } = checkVsix(file, fileTarget);
  if (!errors.length && fileTarget === target && !args.includes('--no-run')) {
    const why = runFromVsix(entries);
    if (why) errors.push(why);
  }
  const summary = `${file}: ${(bytes / MB).toFixed(1)} MB, ${entries.length} files`;
  if (errors.length) {
    console.error(`check-vsix: FAILED ${summary}\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    process.exit(1);
  }
  console.log(`check-vsix: OK ${summary}${fileTarget === target && !args.includes('--no-run') ? '; the demo ran from it' : ''}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
