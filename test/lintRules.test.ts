/**
 * The lint rules of `npm run lint` fire: ESLint's layer rules (eslint.config.mjs) on imports written against
 * the layers, and dependency-cruiser (.dependency-cruiser.mjs) on a folder cycle that no single file is part of.
 * Both configurations come from scripts/layers.mjs; a rule that never fires would let the layers rot unseen.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { REPO_ROOT, TMP_DIR } from './helpers/engineReport';

/** The no-restricted-imports messages ESLint gives a file with this text at this path. */
async function restrictedImports(eslint: ESLint, filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, filePath) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('ESLint refuses imports against the layers and lets the ones along them pass', async () => {
  const eslint = new ESLint({ cwd: REPO_ROOT });
  const refused: [string, string][] = [
    ['src/engine/sae/x.ts', "import { a } from '../metrics/layerAccumulator';"],
    ['src/engine/sae/formats/x.ts', "import { a } from '../../metrics/layerAccumulator';"],
    ['src/engine/config/x.ts', "import { a } from '../model/hfCache';"],
    ['src/engine/pipeline/x.ts', "import { a } from '../authoring/hover';"],
    ['src/engine/core/x.ts', "import * as vscode from 'vscode';"],
    ['src/engine/report/x.ts', "import { a } from '../../extension/extension';"],
    ['src/engine/model/x.ts', "import * as ort from 'onnxruntime-node';"],
    ['src/shared/x.ts', "import { a } from '../engine/core/errors';"],
    ['src/shared/x.ts', "import { readFileSync } from 'node:fs';"],
    ['src/shared/x.ts', "import { a } from '../../webview/format';"],
    ['webview/chart/x.ts', "import { a } from '../../src/engine/core/errors';"],
    ['webview/x.ts', "import * as path from 'path';"],
    ['src/cli/x.ts', "import { a } from '../extension/extension';"],
  ];
  for (const [file, code] of refused) {
    assert.equal((await restrictedImports(eslint, file, code)).length, 1, `${file}: ${code} should be refused`);
  }
  const allowed: [string, string][] = [
    ['src/engine/metrics/x.ts', "import { a } from '../sae/types';"],
    ['src/engine/worker/x.ts', "import { a } from '../pipeline/pipeline';"],
    ['src/engine/runtime/x.ts', "import * as ort from 'onnxruntime-node';"],
    ['src/engine/report/x.ts', "import { a } from '../../shared/reportTypes';"],
    ['src/extension/x.ts', "import * as vscode from 'vscode';"],
    ['webview/chart/x.ts', "import { a } from '../../src/shared/glossary';"],
    ['test/x.test.ts', "import * as ort from 'onnxruntime-node';"],
  ];
  for (const [file, code] of allowed) {
    assert.deepEqual(await restrictedImports(eslint, file, code), [], `${file}: ${code} should pass`);
  }
  const [message] = await restrictedImports(eslint, 'src/engine/sae/x.ts', "import { a } from '../metrics/layerAccumulator';");
  assert.match(message, /src\/engine\/sae imports only lower layers \(scripts\/layers\.mjs\).*src\/engine\/metrics/);
});

test('dependency-cruiser finds a folder cycle no file is part of, and an import up a layer', () => {
  const root = join(TMP_DIR, 'lint-fixture');
  rmSync(root, { recursive: true, force: true });
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'commonjs', strict: true } }),
    // sae/projector -> metrics/acc and metrics/acc -> sae/types: the folders form a cycle, the files do not
    'src/engine/sae/projector.ts': "import { Acc } from '../metrics/acc';\nexport const p = (a: Acc) => a;\n",
    'src/engine/sae/types.ts': 'export type Code = number;\n',
    'src/engine/metrics/acc.ts': "import type { Code } from '../sae/types';\nexport interface Acc { code: Code }\n",
    // down the layers, as it should be
    'src/engine/pipeline/run.ts': "import { p } from '../sae/projector';\nexport const run = p;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const cli = join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const config = join(REPO_ROOT, '.dependency-cruiser.mjs');
  // the `err` reporter is the one `npm run lint` uses, and the one whose exit status counts the errors
  const r = spawnSync(process.execPath, [cli, 'src', '--config', config, '--output-type', 'err'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const out = r.stdout;
  assert.equal(r.status, 3, out);
  assert.match(out, /error no-folder-cycle: src\/engine\/sae → \s+src\/engine\/metrics →\s+src\/engine\/sae/);
  assert.match(out, /error engine-layer-sae: src\/engine\/sae\/projector\.ts → src\/engine\/metrics\/acc\.ts/);
  assert.doesNotMatch(out, /no-module-cycle/, 'no file takes part in a cycle');
  assert.doesNotMatch(out, /pipeline/, 'pipeline -> sae runs down the layers');
  rmSync(root, { recursive: true, force: true });
});
