// Bundles what the VSIX runs into dist/ with esbuild: the extension host entry, the run worker it forks
// (a separate process, so its own bundle, found beside extension.js), the doctor's provider probe (also a
// child process, so a native crash cannot reach the host), and the CLI. onnxruntime-node stays
// external: its native binding loads its shared libraries from its own folder, so it ships as files
// (scripts/package.mjs picks the platform's binaries). `vscode` is provided by the editor.
// The config schema is copied beside them for package.json's yamlValidation.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode', 'onnxruntime-node'],
  minify: !process.env.BUNDLE_NO_MINIFY,
  // error classes and stack traces keep their names
  keepNames: true,
  // maps for F5 debugging; .vscodeignore keeps them out of the VSIX
  sourcemap: 'linked',
  // the bundled libraries' licence comments go to <bundle>.js.LEGAL.txt, shipped beside the bundles
  legalComments: 'linked',
  logLevel: 'warning',
};

try {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: {
        extension: 'src/extension/extension.ts',
        runWorker: 'src/engine/worker/runWorker.ts',
        probeProvider: 'src/engine/runtime/probeProvider.ts',
        kernelProbe: 'src/engine/pipeline/kernelProbe.ts',
      },
      outdir,
    }),
    esbuild.build({
      ...common,
      stdin: {
        contents: "require('./src/cli/main').main(process.argv.slice(2)).then((code) => { process.exitCode = code; });",
        resolveDir: root,
        loader: 'ts',
        sourcefile: 'cli-entry.ts',
      },
      banner: { js: '#!/usr/bin/env node' },
      outfile: join(outdir, 'cli.js'),
    }),
  ]);
  copyFileSync(join(root, 'src/shared/sae-diff.schema.json'), join(outdir, 'sae-diff.schema.json'));
  console.log(`bundle: wrote ${outdir}`);
} catch (error) {
  console.error(`bundle: FAILED: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}
