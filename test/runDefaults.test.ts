/**
 * The editor's run defaults: saeDiff.batchSize is passed only where the user set it, so a GPU run started
 * from VS Code gets the engine's memory-based batch plan instead of the setting's contributed default.
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import { test } from 'node:test';

type Inspect = { defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown };
let settings: Record<string, Inspect> = {};
const vscodeStub = {
  workspace: {
    getConfiguration: () => ({
      get: (key: string, fallback?: unknown) => {
        const i = settings[key] ?? {};
        return i.workspaceFolderValue ?? i.workspaceValue ?? i.globalValue ?? i.defaultValue ?? fallback;
      },
      inspect: (key: string) => ({ key, ...(settings[key] ?? {}) }),
    }),
  },
};
// `vscode` exists only inside the editor: resolve it to the stub
const resolve = (Module as any)._resolveFilename;
(Module as any)._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeStub } as any;
const { readRunDefaults } =
  require('../src/extension/run/runSettingsFromEditor') as typeof import('../src/extension/run/runSettingsFromEditor');

test('saeDiff.batchSize reaches the run only when a user, workspace or folder setting gives it', () => {
  settings = { batchSize: { defaultValue: 16 }, executionProvider: { defaultValue: 'auto' } };
  assert.equal(readRunDefaults().batchSize, undefined);
  settings = { batchSize: { defaultValue: 16, globalValue: 8 } };
  assert.equal(readRunDefaults().batchSize, 8);
  settings = { batchSize: { defaultValue: 16, workspaceFolderValue: 4 } };
  assert.equal(readRunDefaults().batchSize, 4);
});
