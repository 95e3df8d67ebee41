import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { describe, it } from 'node:test';

// The extension's authoring layer against a minimal stand-in for the `vscode` module: checks the
// wiring (which documents are validated, how engine results become Diagnostics, Hovers, ...).
const FIX = path.resolve(__dirname, '../../test/fixtures/tiny-llama');
const TMP = path.resolve(__dirname, '../../test/.tmp/authoring-extension');
const F = path.relative(TMP, FIX).split(path.sep).join('/');

type Listener<T> = (e: T) => void;
function emitter<T>() {
  const listeners: Listener<T>[] = [];
  const event = (l: Listener<T>) => {
    listeners.push(l);
    return { dispose() {} };
  };
  return { event, fire: (e: T) => listeners.forEach((l) => l(e)) };
}

class Range {
  constructor(
    public startLine: number,
    public startCharacter: number,
    public endLine: number,
    public endCharacter: number,
  ) {}
  get start() {
    return { line: this.startLine, character: this.startCharacter };
  }
  get end() {
    return { line: this.endLine, character: this.endCharacter };
  }
}
const uriOf = (p: string) => ({ fsPath: p, scheme: 'file', toString: () => `file://${p}` });

const opened = emitter<any>();
const changed = emitter<any>();
const diagnostics = new Map<string, any[]>();
const providers: Record<string, any> = {};
const watchers: { pattern: any; change: ReturnType<typeof emitter<any>> }[] = [];
const commands: Record<string, () => Promise<void>> = {};
let saveTarget: string | undefined;
const shown: string[] = [];

const vscodeStub = {
  Range,
  Diagnostic: class {
    source?: string;
    code?: string;
    constructor(
      public range: Range,
      public message: string,
      public severity: number,
    ) {}
  },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2 },
  CompletionItem: class {
    constructor(
      public label: string,
      public kind: number,
    ) {}
  },
  CompletionItemKind: { Property: 9, EnumMember: 19, Value: 11, Constant: 20, Folder: 18, File: 16, Snippet: 14 },
  MarkdownString: class {
    constructor(public value: string) {}
  },
  Hover: class {
    constructor(
      public contents: any,
      public range: Range,
    ) {}
  },
  CodeAction: class {
    diagnostics?: unknown[];
    isPreferred?: boolean;
    edit?: any;
    constructor(
      public title: string,
      public kind: string,
    ) {}
  },
  CodeActionKind: { QuickFix: 'quickfix' },
  WorkspaceEdit: class {
    edits: any[] = [];
    replace(_uri: unknown, range: Range, newText: string) {
      this.edits.push({ range, newText });
    }
  },
  RelativePattern: class {
    constructor(
      public base: any,
      public pattern: string,
    ) {}
  },
  Uri: { file: uriOf, joinPath: (u: any, ...parts: string[]) => uriOf(path.join(u.fsPath, ...parts)) },
  languages: {
    createDiagnosticCollection: () => ({
      set: (uri: any, ds: any[]) => diagnostics.set(uri.fsPath, ds),
      delete: (uri: any) => diagnostics.delete(uri.fsPath),
      dispose() {},
    }),
    registerHoverProvider: (_s: unknown, p: unknown) => ((providers.hover = p), { dispose() {} }),
    registerCompletionItemProvider: (_s: unknown, p: unknown) => ((providers.completion = p), { dispose() {} }),
    registerCodeActionsProvider: (_s: unknown, p: unknown) => ((providers.codeActions = p), { dispose() {} }),
  },
  workspace: {
    onDidOpenTextDocument: opened.event,
    onDidChangeTextDocument: changed.event,
    onDidCloseTextDocument: emitter<any>().event,
    textDocuments: [] as any[],
    workspaceFolders: [{ uri: uriOf(TMP) }],
    getConfiguration: () => ({ get: () => 0 }),
    createFileSystemWatcher: (pattern: any) => {
      const change = emitter<any>();
      watchers.push({ pattern, change });
      return { onDidChange: change.event, onDidCreate: emitter<any>().event, onDidDelete: emitter<any>().event, dispose() {} };
    },
    fs: { writeFile: async (uri: any, data: Uint8Array) => fs.writeFileSync(uri.fsPath, data) },
    openTextDocument: async (uri: any) => document(uri.fsPath, fs.readFileSync(uri.fsPath, 'utf8')),
  },
  window: {
    activeTextEditor: undefined,
    showSaveDialog: async () => (saveTarget ? uriOf(saveTarget) : undefined),
    showTextDocument: async (doc: any) => void shown.push(doc.fileName),
    showInformationMessage: async () => undefined,
  },
  commands: { registerCommand: (id: string, f: () => Promise<void>) => ((commands[id] = f), { dispose() {} }) },
};

function document(fileName: string, text: string, languageId = 'yaml') {
  return { fileName, languageId, uri: uriOf(fileName), isClosed: false, getText: () => text };
}

function loadAuthoring(): { registerConfigAuthoring(ctx: unknown): void } {
  const resolve = (Module as any)._resolveFilename;
  (Module as any)._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeStub } as any;
  return require('../src/extension/authoring/register');
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('extension config authoring (vscode stand-in)', () => {
  fs.mkdirSync(TMP, { recursive: true });
  const { registerConfigAuthoring } = loadAuthoring();
  const context = { subscriptions: [] as unknown[] };
  registerConfigAuthoring(context);
  const configPath = path.join(TMP, 'a.sae-diff.yaml');
  const text = `diagnostic_pipeline:\n  models: { base: ${F}/base, sft: ${F}/sft-domain }\n  sae: { path: ${F}/saes/blocks.3.hook_resid_post }\n  layers: { target_indices: [3, 8] }\n  dataset: { path: ${F}/eval/general.txt }\n`;
  const doc = document(configPath, text);

  it('registers the providers and the new-config command', () => {
    assert.ok(providers.hover && providers.completion && providers.codeActions);
    assert.ok(commands['saeDiff.newConfig']);
    assert.ok(context.subscriptions.length >= 7);
  });

  it('validates config documents (by name or root key) and ignores other YAML', async () => {
    opened.fire(doc);
    opened.fire(document(path.join(TMP, 'plain.yaml'), `diagnostic_pipeline:\n  modls: {}\n`));
    opened.fire(document(path.join(TMP, 'compose.yaml'), 'services: {}\n'));
    await tick();
    const ds = diagnostics.get(configPath)!;
    assert.deepEqual(
      ds.map((d) => [d.code, d.severity, d.source, d.range.start]),
      [['layer-out-of-range', 0, 'sae-diff', { line: 3, character: 32 }]],
    );
    assert.match(ds[0].message, /^Layer 8 does not exist: the base model has 6 layers/);
    assert.ok(
      diagnostics.get(path.join(TMP, 'plain.yaml'))!.some((d) => d.code === 'unknown-key'),
      'a YAML file whose root key is diagnostic_pipeline',
    );
    assert.equal(diagnostics.has(path.join(TMP, 'compose.yaml')), false);
  });

  it('watches the referenced files and re-validates when one changes', async () => {
    const watched = watchers.map((w) => w.pattern.base.fsPath);
    assert.ok(watched.includes(path.join(FIX, 'base')), watched.join('\n'));
    assert.ok(watched.includes(path.join(FIX, 'eval')), 'a file is watched by name in its folder');
    diagnostics.delete(configPath);
    vscodeStub.workspace.textDocuments = [doc];
    watchers.find((w) => w.pattern.base.fsPath === path.join(FIX, 'base'))!.change.fire(uriOf(path.join(FIX, 'base/config.json')));
    await tick();
    assert.equal(diagnostics.get(configPath)!.length, 1);
  });

  it('maps hovers, completions and quick fixes', () => {
    const hover = providers.hover.provideHover(doc, { line: 3, character: 29 });
    assert.match(hover.contents.value, /^\*\*Layer 3\*\*/);
    const items = providers.completion.provideCompletionItems(doc, { line: 2, character: 60 });
    assert.ok(Array.isArray(items));
    const actions = providers.codeActions.provideCodeActions(doc, new Range(3, 32, 3, 33));
    assert.deepEqual(
      actions.map((a: any) => a.title),
      ['Remove layer 8'],
    );
    assert.deepEqual(
      actions[0].edit.edits.map((e: any) => [e.range.start, e.range.end, e.newText]),
      [[{ line: 3, character: 30 }, { line: 3, character: 33 }, '']],
    );
  });

  it('writes and opens a starter config', async () => {
    saveTarget = path.join(TMP, 'new.sae-diff.yaml');
    fs.rmSync(saveTarget, { force: true });
    await commands['saeDiff.newConfig']();
    assert.match(fs.readFileSync(saveTarget, 'utf8'), /^# SAE Diff diagnostic config/);
    assert.deepEqual(shown, [saveTarget]);
  });
});
