// ESLint: typescript-eslint's recommended rules (syntax only, no type information, so a lint run stays cheap)
// plus the layer rules built from scripts/layers.mjs. no-restricted-imports sees the import string, not the
// file it resolves to, so these rules are the editor's early warning; .dependency-cruiser.mjs checks the
// resolved graph (and folder cycles) in `npm run lint`.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { ENGINE_LAYERS, FACES, ORT_FOLDER, VSCODE_FOLDER, forbiddenEngineFolders } from './scripts/layers.mjs';

/**
 * A regex that matches a relative import reaching `target` (a repository path such as src/engine/metrics)
 * from any file below a sibling folder: one or more `../`, then any tail of the target's path
 * (`../metrics/x`, `../../engine/metrics`, `../../../src/engine/metrics`).
 */
function reaching(target) {
  const parts = target.split('/');
  let tail = parts.pop();
  for (const part of parts.reverse()) tail = `(?:${part}/)?${tail}`;
  return `^(?:\\.\\./)+${tail}(?:/|$)`;
}

const VSCODE = { name: 'vscode', message: `Only ${VSCODE_FOLDER} may import vscode: the engine, CLI and webview run without VS Code.` };
const ORT = {
  name: 'onnxruntime-node',
  message: `ONNX Runtime is used through ${ORT_FOLDER} only (sessions, tensors): import from there.`,
};
const NODE_BUILTINS = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].map((name) => ({
  name,
  message: 'src/shared and webview/ run in the browser too: no Node modules.',
}));

/** One no-restricted-imports setting per folder: ESLint replaces (does not merge) a rule's options per file. */
function restrict({ paths, folders, why }) {
  return ['error', { paths, patterns: folders.map((folder) => ({ regex: reaching(folder), message: `${why} ${folder}.` })) }];
}

function faceBlock(face) {
  const { forbid, node } = FACES[face];
  const paths = [...(face === VSCODE_FOLDER ? [] : [VSCODE]), ORT, ...(node ? [] : NODE_BUILTINS)];
  return {
    files: [`${face}/**/*.ts`],
    rules: { 'no-restricted-imports': restrict({ paths, folders: forbid, why: `${face} must not import` }) },
  };
}

const engineBlocks = ENGINE_LAYERS.flat().map((folder) => {
  const paths = [VSCODE, ...(`src/engine/${folder}` === ORT_FOLDER ? [] : [ORT])];
  const folders = [...FACES['src/engine'].forbid, ...forbiddenEngineFolders(folder).map((f) => `src/engine/${f}`)];
  return {
    files: [`src/engine/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': restrict({
        paths,
        folders,
        why: `src/engine/${folder} imports only lower layers (scripts/layers.mjs), not`,
      }),
    },
  };
});

export default defineConfig(
  { ignores: ['out/**', 'dist/**', 'media/**', 'node_modules/**', 'test/fixtures/**', 'test/.tmp/**', 'vsix/**', 'demo/out/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    // Node scripts (build, packaging, this file): Node's globals are known, and TypeScript checks no JS here.
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    rules: { 'no-undef': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.ts'],
    rules: {
      // `_name` marks a parameter kept for its position (a callback's signature).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // shown, not failing: the remaining `any`s (parsed JSON, schema walking) are to be typed one by one
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    // Tests load modules afresh with require() (to reset module state or stub a dependency).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Tests and benchmarks may use ONNX Runtime directly (they check the engine against it), but not VS Code.
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [VSCODE] }] } },
  faceBlock('src/shared'),
  faceBlock('webview'),
  faceBlock('src/cli'),
  faceBlock('src/extension'),
  // every engine file (one outside the layer folders too); the blocks below replace it for the layer folders
  faceBlock('src/engine'),
  ...engineBlocks,
);
