// The layers of the code base, in one table: eslint.config.mjs turns it into no-restricted-imports rules (what
// the editor underlines while typing) and .dependency-cruiser.mjs into rules on the resolved import graph
// (what `npm run lint` checks, with folder cycles). Change the architecture here, nowhere else.

/**
 * src/engine's folders, lowest first. A folder imports only from folders in earlier rows; folders in one row
 * are peers and do not import each other. worker sits above pipeline because it runs it.
 */
export const ENGINE_LAYERS = [
  ['core'],
  ['io'],
  ['config'],
  ['runtime'],
  ['model'],
  ['data'],
  ['sae'],
  ['metrics'],
  ['report'],
  ['authoring', 'pipeline', 'merge'],
  ['worker'],
];

/** Engine folders a folder must not import: those in its own row (but itself) and in every later row. */
export function forbiddenEngineFolders(folder) {
  const row = ENGINE_LAYERS.findIndex((names) => names.includes(folder));
  if (row < 0) throw new Error(`scripts/layers.mjs: engine folder '${folder}' is in no layer; add it to ENGINE_LAYERS`);
  return ENGINE_LAYERS.slice(row)
    .flat()
    .filter((name) => name !== folder);
}

/** ONNX Runtime is loaded by the runtime module only (tests and benchmarks may use it directly). */
export const ORT_FOLDER = 'src/engine/runtime';

/**
 * The faces and what each must not reach. src/shared is the typed contract between the engine and the
 * webview bundle: it runs in the browser too, so it imports no Node module and nothing outside itself.
 */
export const FACES = {
  'src/shared': { forbid: ['src/engine', 'src/extension', 'src/cli', 'webview'], node: false },
  webview: { forbid: ['src/engine', 'src/extension', 'src/cli'], node: false },
  'src/engine': { forbid: ['src/extension', 'src/cli', 'webview'], node: true },
  'src/cli': { forbid: ['src/extension', 'webview'], node: true },
  'src/extension': { forbid: ['src/cli', 'webview'], node: true },
};

/** `vscode` is the extension host's module: only src/extension may import it. */
export const VSCODE_FOLDER = 'src/extension';
