// `npm run lint`: ESLint (code rules and the layer rules), dependency-cruiser (the resolved import graph: folder
// cycles, imports that run up a layer) and Prettier (formatting). All three run, so one run lists every
// problem; the exit status is non-zero when any failed. `npm run format` applies Prettier's formatting.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// a package's own script, from the project's node_modules (not every package exports its package.json)
const bin = (pkg, path) => join(root, 'node_modules', pkg, path);

const CHECKS = [
  ['eslint', [bin('eslint', 'bin/eslint.js'), '.']],
  [
    'import graph',
    [
      bin('dependency-cruiser', 'bin/dependency-cruise.mjs'),
      'src',
      'webview',
      '--config',
      '.dependency-cruiser.mjs',
      '--output-type',
      'err',
    ],
  ],
  ['prettier', [bin('prettier', 'bin/prettier.cjs'), '--check', '.', '--log-level', 'warn']],
];

const failed = [];
for (const [name, args] of CHECKS) {
  const { status } = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (status !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`lint: FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
console.log('lint: eslint, import graph and prettier pass');
