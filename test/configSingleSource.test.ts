import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_GLOB, CONFIG_SUFFIXES, isConfigFile, isConfigFileName, pipelineRootLine } from '../src/engine/config/configFileRule';
import { loadConfigText } from '../src/engine/config/load';
import { looksLikeHubModelId } from '../src/engine/config/modelId';
import { configSchema, EXECUTION_PROVIDERS, schemaDefault, schemaEnum, sectionDefaults } from '../src/engine/config/schema';
import { DEFAULT_METRICS, DEFAULT_RUNTIME } from '../src/engine/config/types';
import { resolveModelFiles } from '../src/engine/model/modelFolder';
import { SAE_FORMATS } from '../src/engine/sae/formats';
import { DEFAULT_THRESHOLDS } from '../src/shared/reportFindings';

// Each config fact has one definition (the schema, the config-file rule, the hub-id rule); these tests
// check that what cannot import it (package.json, generated types, the registry) agrees with it.
const REPO = path.resolve(__dirname, '../..');
const FIX = path.join(REPO, 'test/fixtures/tiny-llama');
const TMP = path.join(REPO, 'test/.tmp/config-single-source');
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const pipeline = configSchema.properties.diagnostic_pipeline.properties;

const minimalConfig = (models = `{ base: ${FIX}/base, sft: ${FIX}/sft-domain }`) =>
  `diagnostic_pipeline:\n  models: ${models}\n  sae: { path: "${FIX}/saes/blocks.{layer}.hook_resid_post" }\n` +
  `  layers: { target_indices: [1, 3] }\n  dataset: { path: ${FIX}/eval/general.txt }\n`;

describe('the schema is the one source of defaults and allowed values', () => {
  it('the generated TypeScript types are current', () => {
    execFileSync(process.execPath, [path.join(REPO, 'scripts/gen-config-types.mjs'), '--check'], { stdio: 'pipe' });
  });

  it('every metrics and runtime key has a schema default, and the engine and the webview use exactly those', () => {
    for (const section of ['metrics', 'runtime']) {
      assert.deepEqual(Object.keys(sectionDefaults(section)).sort(), Object.keys(pipeline[section].properties).sort(), section);
    }
    assert.equal(DEFAULT_METRICS.cosine_threshold, pipeline.metrics.properties.cosine_threshold.default);
    assert.deepEqual({ ...DEFAULT_METRICS }, sectionDefaults('metrics'));
    assert.deepEqual({ ...DEFAULT_RUNTIME }, sectionDefaults('runtime'));
    for (const [key, value] of Object.entries(DEFAULT_THRESHOLDS)) assert.equal(value, pipeline.metrics.properties[key].default, key);
  });

  it('a config that writes no optional key loads with every default the schema declares', () => {
    const c = loadConfigText(minimalConfig(), path.join(TMP, 'minimal.sae-diff.yaml'));
    assert.deepEqual(
      [
        c.sae.k,
        c.sae.format,
        c.sae.checkHookLayer,
        c.layers.hookPoint,
        c.dataset.excludeBos,
        c.dataset.chatTemplateFrom,
        c.dataset.prependBos,
      ],
      [
        'sae.k',
        'sae.format',
        'sae.check_hook_layer',
        'layers.hook_point',
        'dataset.exclude_bos',
        'dataset.chat_template_from',
        'dataset.prepend_bos',
      ].map((k) => schemaDefault(k)),
    );
    assert.deepEqual(c.metrics, sectionDefaults('metrics'));
    assert.deepEqual(c.runtime, sectionDefaults('runtime'));
    assert.deepEqual([...c.sae.paths.keys()], [1, 3]);
  });

  it("the defaults docs/metrics.md quotes (for readers; Markdown cannot import) are the schema's", () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs/metrics.md'), 'utf8');
    let quoted = 0;
    for (const [section, s] of Object.entries<any>(pipeline)) {
      for (const [key, k] of Object.entries<any>(s.properties ?? {})) {
        if (k.default === undefined) continue;
        for (const m of doc.matchAll(new RegExp(`(?<!\\w)${key}\`?\\)?,?\\s*\\(?default\\s+\`?([^\`),;\\s]+)`, 'g'))) {
          quoted++;
          assert.equal(
            m[1] === 'true' || m[1] === 'false' ? m[1] === 'true' : Number(m[1]),
            k.default,
            `docs/metrics.md: ${section}.${key} ${m[0]}`,
          );
        }
      }
    }
    assert.ok(quoted >= 8, `found ${quoted} quoted defaults`);
  });

  it('the SAE format registry implements exactly the formats the schema allows', () => {
    assert.deepEqual(
      SAE_FORMATS.map((f) => f.name).sort(),
      schemaEnum('sae.format')
        .filter((f) => f !== 'auto')
        .sort(),
    );
  });

  it("package.json's editor settings agree with the schema's runtime section", () => {
    const settings = PKG.contributes.configuration.properties;
    const runtime = pipeline.runtime.properties;
    assert.deepEqual([...settings['saeDiff.executionProvider'].enum].sort(), [...runtime.execution_provider.enum].sort());
    assert.equal(settings['saeDiff.executionProvider'].default, runtime.execution_provider.default);
    assert.deepEqual(
      [settings['saeDiff.batchSize'].default, settings['saeDiff.batchSize'].minimum],
      [runtime.batch_size.default, runtime.batch_size.minimum],
    );
    assert.deepEqual(
      [settings['saeDiff.threads'].default, settings['saeDiff.threads'].minimum, settings['saeDiff.threads'].maximum],
      [runtime.threads.default, runtime.threads.minimum, runtime.threads.maximum],
    );
    assert.deepEqual(
      [...EXECUTION_PROVIDERS],
      runtime.execution_provider.enum.filter((p: string) => p !== 'auto'),
    );
  });
});

describe('one Hugging Face id rule', () => {
  it('reads org/name and name as ids, paths and files as paths', () => {
    for (const id of ['gpt2', 'my-org/tiny-sft', 'google/gemma-2-2b-it']) assert.ok(looksLikeHubModelId(id), id);
    for (const p of ['./models/base', '../base', '/abs/base', 'a/b/c', 'org/x.onnx', 'c.yaml', 'a/../b'])
      assert.ok(!looksLikeHubModelId(p), p);
  });

  it('a missing folder the loader read as an id gets the export hint when the run opens it; a missing path does not', () => {
    fs.mkdirSync(TMP, { recursive: true });
    const load = (sft: string) => loadConfigText(minimalConfig(`{ base: ${FIX}/base, sft: ${sft} }`), path.join(TMP, 'hub.sae-diff.yaml'));
    const hint = (sft: string) => {
      const c = load(sft);
      try {
        resolveModelFiles(c.models.sfts[0], c);
      } catch (e) {
        return (e as { hint?: string }).hint ?? '';
      }
      return 'no error';
    };
    assert.match(hint('nobody-org/no-such-model'), /looks like a Hugging Face model id/);
    assert.match(hint('./no-such-folder'), /^Give a folder/);
    // the loader finds the id through the cache lookup it is given, and keeps the written name as the default name's source
    const c = loadConfigText(minimalConfig(`{ base: ${FIX}/base, sft: org/m }`), path.join(TMP, 'hub.sae-diff.yaml'), {
      hubModelFolder: (id) => (id === 'org/m' ? path.join(FIX, 'sft-domain') : undefined),
    });
    assert.equal(c.models.sfts[0].path, path.join(FIX, 'sft-domain'));
  });
});

describe('one "is this a config?" rule', () => {
  const SAMPLES: [string, string, boolean][] = [
    ['/w/run.sae-diff.yaml', 'x: 1\n', true],
    ['/w/RUN.SAE-DIFF.YML', '', true],
    ['/w/plain.yaml', '# c\n---\ndiagnostic_pipeline:\n  models: {}\n', true],
    // a later root key: once a Run CodeLens without validation, now neither
    ['/w/ci.yaml', 'name: ci\ndiagnostic_pipeline: {}\n', false],
    ['/w/compose.yml', 'services: {}\n', false],
    ['/w/nested.yaml', 'other:\n  diagnostic_pipeline: 1\n', false],
  ];

  it("package.json's yamlValidation, activation events and menus name the rule's suffixes", () => {
    const stars = CONFIG_SUFFIXES.map((s) => `*${s}`);
    assert.deepEqual(PKG.contributes.yamlValidation[0].fileMatch, stars);
    for (const s of stars) assert.ok(PKG.activationEvents.includes(`workspaceContains:**/${s}`), s);
    assert.ok(
      PKG.activationEvents.includes('onLanguage:yaml'),
      'a YAML file whose first key is diagnostic_pipeline activates the extension',
    );
    const whens = JSON.stringify(PKG.contributes.menus).match(/resourceFilename =~ \/(.*?)\//g) ?? [];
    assert.ok(whens.length > 0);
    for (const when of whens) {
      const re = new RegExp(
        when
          .replace(/^resourceFilename =~ \//, '')
          .replace(/\/$/, '')
          .replace(/\\\\/g, '\\'),
      );
      for (const [name] of SAMPLES)
        assert.equal(re.test(path.basename(name).toLowerCase()), isConfigFileName(name.toLowerCase()), `${when} on ${name}`);
    }
    assert.equal(CONFIG_GLOB, '**/*{.sae-diff.yaml,.sae-diff.yml}');
  });

  it('validation, hovers and the Run CodeLens accept exactly the files the rule accepts', () => {
    const { isConfigDocument, RunCodeLensProvider } = loadExtensionSites();
    const lenses = new RunCodeLensProvider(() => false);
    for (const [name, text, expected] of SAMPLES) {
      const doc = { fileName: name, languageId: 'yaml', uri: { scheme: 'file', fsPath: name }, getText: () => text };
      assert.equal(isConfigFile(name, text), expected, `rule: ${name}`);
      assert.equal(isConfigDocument(doc), expected, `validation: ${name}`);
      // the lens sits on the root key: a config named by suffix that lacks it has none (and a schema error)
      assert.equal(lenses.provideCodeLenses(doc).length > 0, expected && pipelineRootLine(text) >= 0, `CodeLens: ${name}`);
    }
  });
});

/** The extension's two call sites, loaded against a minimal stand-in for the `vscode` module. */
function loadExtensionSites(): { isConfigDocument: (doc: unknown) => boolean; RunCodeLensProvider: any } {
  class Range {
    constructor(
      public line: number,
      public character: number,
    ) {}
  }
  const stub = {
    Range,
    CodeLens: class {
      constructor(
        public range: Range,
        public command: unknown,
      ) {}
    },
    EventEmitter: class {
      event = () => ({ dispose() {} });
      fire() {}
      dispose() {}
    },
    workspace: { isTrusted: true },
  };
  const resolve = (Module as any)._resolveFilename;
  (Module as any)._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub } as any;
  return {
    isConfigDocument: require('../src/extension/configDocument').isConfigDocument,
    RunCodeLensProvider: require('../src/extension/run/runCodeLens').RunCodeLensProvider,
  };
}
