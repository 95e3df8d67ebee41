// Bundles the report webview (webview/) into media/webview/: type-checks it with its own DOM tsconfig,
// then esbuild writes main.js (IIFE, no remote imports) and main.css. Any error exits non-zero.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'media', 'webview');
const watch = process.argv.includes('--watch');
// WEBVIEW_NO_MINIFY=1 keeps the bundle readable, e.g. to map a CSP report's line number to its source.

function typeCheck() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'webview', 'tsconfig.json')], { stdio: 'inherit' });
  } catch {
    throw new Error('webview type check failed (see errors above)');
  }
}

const options = {
  absWorkingDir: root,
  // main.ts imports styles.css, so esbuild also writes main.css next to main.js.
  entryPoints: { main: 'webview/main.ts' },
  outdir,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome114'],
  minify: !watch && !process.env.WEBVIEW_NO_MINIFY,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'linked',
  logLevel: 'warning',
};

try {
  if (watch) {
    const context = await esbuild.context(options);
    await context.watch();
    console.log('build-webview: watching webview/ …');
  } else {
    typeCheck();
    const result = await esbuild.build(options);
    if (result.errors.length > 0) throw new Error(`${result.errors.length} esbuild error(s)`);
    console.log(`build-webview: wrote ${outdir}`);
  }
} catch (error) {
  console.error(`build-webview: FAILED: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}
