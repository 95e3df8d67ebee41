// The import graph check of `npm run lint` (scripts/lint.mjs runs it on src/ and webview/). dependency-cruiser
// resolves every import, type-only ones included, to the file it loads, so unlike ESLint's string patterns it
// sees folder cycles (a/x -> b/y and b/z -> a/w close a cycle that no single file is part of; import-x's
// no-cycle follows files only) and imports written any way at all. The layers come from scripts/layers.mjs.
import { ENGINE_LAYERS, FACES, ORT_FOLDER, VSCODE_FOLDER, forbiddenEngineFolders } from './scripts/layers.mjs';

const under = (folder) => `^${folder.replace(/[.]/g, '\\.')}/`;

const engineRules = ENGINE_LAYERS.flat()
  .filter((folder) => forbiddenEngineFolders(folder).length > 0)
  .map((folder) => ({
    name: `engine-layer-${folder}`,
    comment: `src/engine/${folder} imports only engine folders in lower rows of scripts/layers.mjs ENGINE_LAYERS`,
    severity: 'error',
    from: { path: under(`src/engine/${folder}`) },
    to: { path: `^src/engine/(${forbiddenEngineFolders(folder).join('|')})/` },
  }));

// a folder missing from the table would escape the layer rules, so it is an error of its own
const known = `^src/engine/(${ENGINE_LAYERS.flat().join('|')})/`;
const unknownEngineFolder = {
  name: 'engine-folder-in-layer-table',
  comment: 'Every src/engine folder has a row in scripts/layers.mjs ENGINE_LAYERS.',
  severity: 'error',
  from: { path: '^src/engine/', pathNot: known },
  to: {},
};

const faceRules = Object.entries(FACES).map(([face, { forbid, node }]) => ({
  name: `face-${face.replace(/\//g, '-')}`,
  comment: `${face} must not import ${forbid.join(', ')}${node ? '' : ' or Node modules (it runs in the browser)'}`,
  severity: 'error',
  from: { path: under(face) },
  to: node ? { path: `^(${forbid.join('|')})/` } : { path: `^(${forbid.join('|')})/|^node:`, dependencyTypesNot: ['type-only'] },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment: 'Folders import each other in one direction only: a folder cycle means a layer is split wrongly.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-module-cycle',
      comment: 'Files import each other in one direction only.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...engineRules,
    unknownEngineFolder,
    ...faceRules,
    {
      name: 'browser-code-no-node-builtins',
      comment: 'src/shared and webview/ are bundled for the browser: no Node core modules.',
      severity: 'error',
      from: { path: '^(src/shared|webview)/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'vscode-only-in-extension',
      comment: `Only ${VSCODE_FOLDER} may import vscode: the engine, CLI and webview run without VS Code.`,
      severity: 'error',
      from: { pathNot: under(VSCODE_FOLDER) },
      to: { path: '^vscode$' },
    },
    {
      name: 'onnxruntime-only-in-runtime',
      comment: `ONNX Runtime is used through ${ORT_FOLDER} only.`,
      severity: 'error',
      from: { path: '^(src|webview)/', pathNot: under(ORT_FOLDER) },
      to: { path: '(^|/)node_modules/onnxruntime-node/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(out|dist|media|test/fixtures)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // the webview bundle and src/shared are the only places with DOM code; both resolve relative imports alike
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
