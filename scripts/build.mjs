// Builds the project: `glossary` (src/shared/glossary.generated.ts from docs/metrics.md), `configTypes`
// (src/shared/configTypes.ts from the config schema), `tsc` (out/: the CLI, the engine, the tests), `webview` (media/webview/: the report
// panel's bundle) and `bundle` (dist/: what the VSIX runs). `node scripts/build.mjs [--if-stale] [step…]`
// (all steps by default). With --if-stale a step runs only when one of its inputs is newer than the stamp
// it wrote after its last success, so `npm run demo` and `vscode:prepublish` do not rebuild a current build.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
// a dependency upgrade changes what every step produces
const LOCK = ['package.json', 'package-lock.json'];

const STEPS = {
  // first: tsc and the webview bundle compile the file it writes (which is committed, so a build without
  // this step still works; it rewrites the file only when docs/metrics.md's glossary changed)
  glossary: {
    command: [join(root, 'scripts/glossary.mjs')],
    inputs: ['docs/metrics.md', 'scripts/glossary.mjs'],
    stamp: 'out/.glossary-stamp',
  },
  // the config types are generated from the schema, their one definition (committed, like the glossary)
  configTypes: {
    command: [join(root, 'scripts/gen-config-types.mjs')],
    inputs: ['src/shared/sae-diff.schema.json', 'scripts/gen-config-types.mjs'],
    stamp: 'out/.config-types-stamp',
  },
  tsc: {
    command: [tsc, '-p', join(root, 'tsconfig.json')],
    inputs: [...LOCK, 'tsconfig.json', 'src', 'test', 'bench'],
    stamp: 'out/.build-stamp',
  },
  webview: {
    command: [join(root, 'scripts/build-webview.mjs')],
    inputs: [...LOCK, 'webview', 'src/shared', 'scripts/build-webview.mjs'],
    stamp: 'media/webview/.build-stamp',
  },
  bundle: {
    command: [join(root, 'scripts/bundle.mjs')],
    inputs: [...LOCK, 'src', 'scripts/bundle.mjs'],
    stamp: 'dist/.build-stamp',
  },
};
// folders that hold no build input (test data, scratch output)
const SKIP_DIRS = new Set(['fixtures', '.tmp', 'node_modules']);

/** Newest modification time (ms) among the files under the given paths. */
function newestInput(paths) {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) if (!SKIP_DIRS.has(e)) visit(join(p, e));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(join(root, p));
  return newest;
}

function isCurrent(step) {
  const stamp = join(root, step.stamp);
  return existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput(step.inputs);
}

const args = process.argv.slice(2);
const ifStale = args.includes('--if-stale');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names) {
  if (!STEPS[name]) {
    console.error(`build: unknown step '${name}' (steps: ${Object.keys(STEPS).join(', ')})`);
    process.exit(2);
  }
}
for (const name of names.length ? names : Object.keys(STEPS)) {
  const step = STEPS[name];
  if (ifStale && isCurrent(step)) {
    console.log(`build: ${name} is up to date`);
    continue;
  }
  // the stamp gets the start time: an input saved during the build makes the next check rebuild
  const started = new Date();
  try {
    execFileSync(process.execPath, step.command, { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`build: ${name} FAILED (see above)`);
    process.exit(1);
  }
  mkdirSync(dirname(join(root, step.stamp)), { recursive: true });
  writeFileSync(join(root, step.stamp), `${started.toISOString()}\n`);
  utimesSync(join(root, step.stamp), started, started);
}
