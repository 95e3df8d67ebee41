// The esbuild bundles the VSIX ships (dist/, built by `npm run build`): they need nothing from node_modules
// but onnxruntime-node (shipped as files) and vscode, and the bundled run worker computes the same report
// as the tsc build.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { DEFAULT_WORKER_PATH, RunController } from '../src/extension/run/runController';

const REPO = path.resolve(__dirname, '../..');
const DIST = path.join(REPO, 'dist');
const FIXTURES = path.join(REPO, 'test/fixtures/tiny-llama');
const TMP = path.join(REPO, 'test/.tmp', `bundle-${process.pid}`);
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const BUILTIN = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Package name of a bare import specifier ('@scope/name/x' -> '@scope/name'). */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('bundles', () => {
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  test('dist/ holds the extension, the worker, the CLI and the schema that package.json names', () => {
    for (const f of ['extension.js', 'runWorker.js', 'probeProvider.js', 'kernelProbe.js', 'cli.js', 'sae-diff.schema.json']) {
      assert.ok(fs.existsSync(path.join(DIST, f)), `dist/${f} is missing: run npm run build`);
    }
    assert.equal(path.resolve(REPO, PKG.main), path.join(DIST, 'extension.js'));
    assert.equal(path.resolve(REPO, PKG.contributes.yamlValidation[0].url), path.join(DIST, 'sae-diff.schema.json'));
  });

  test('the bundles require only node builtins, vscode and onnxruntime-node', () => {
    for (const f of ['extension.js', 'runWorker.js', 'probeProvider.js', 'kernelProbe.js', 'cli.js']) {
      const code = fs.readFileSync(path.join(DIST, f), 'utf8');
      // not inside a string: ajv keeps `'require("ajv/dist/runtime/equal")'` as text for standalone code
      const required = new Set(
        [...code.matchAll(/(?<![\w$.'`])require\("([^"./][^"]*)"\)/g)].map((m) => m[1]).filter((m) => !BUILTIN.has(m)),
      );
      assert.ok(required.has('onnxruntime-node') || f === 'extension.js', `${f} loads onnxruntime-node`);
      assert.deepEqual(
        [...required].filter((m) => m !== 'vscode' && m !== 'onnxruntime-node'),
        [],
        `${f} needs no other package`,
      );
    }
  });

  test('runtime code imports only dependencies (the webview libraries are devDependencies)', () => {
    const allowed = new Set([...Object.keys(PKG.dependencies), 'vscode']);
    const offending: string[] = [];
    for (const file of sourceFiles(path.join(REPO, 'src'))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:from|import|require\()\s*['"]([^'"./][^'"]*)['"]/g)) {
        if (!BUILTIN.has(m[1]) && !allowed.has(packageOf(m[1]))) offending.push(`${path.relative(REPO, file)}: ${m[1]}`);
      }
    }
    assert.deepEqual(offending, []);
    for (const lib of ['chart.js', '@vscode/webview-ui-toolkit']) assert.ok(PKG.devDependencies[lib], `${lib} is a devDependency`);
  });

  test('the bundled run worker writes the same report as the tsc build', async () => {
    fs.mkdirSync(TMP, { recursive: true });
    const configPath = path.join(TMP, 'bundle.sae-diff.yaml');
    fs.writeFileSync(
      configPath,
      [
        'diagnostic_pipeline:',
        `  models: { base: "${FIXTURES}/base", sft: "${FIXTURES}/sft-refusal" }`,
        `  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }`,
        '  layers: { target_indices: [1, 4] }',
        `  dataset: { path: "${FIXTURES}/eval/chat.jsonl", max_samples: 16 }`,
        '  runtime: { max_tokens: 64, execution_provider: cpu }',
        '  output: { format: "json", save_path: "out/bundle.sae-report.json" }',
      ].join('\n'),
    );
    const reports: SaeDiffReport[] = [];
    for (const workerPath of [path.join(DIST, 'runWorker.js'), DEFAULT_WORKER_PATH]) {
      const outcome = await new RunController({ workerPath }).run({
        configPath,
        defaults: { provider: 'cpu', fallback: false, batchSize: 16 },
      });
      assert.equal(outcome.kind, 'done', `${path.relative(REPO, workerPath)}: ${JSON.stringify(outcome)}`);
      reports.push(JSON.parse(fs.readFileSync(path.join(TMP, 'out/bundle.sae-report.json'), 'utf8')));
    }
    assert.notEqual(DEFAULT_WORKER_PATH, path.join(DIST, 'runWorker.js'), 'the tsc build forks its own worker');
    const layers = (r: SaeDiffReport) =>
      r.comparisons[0].layers.map(({ layer, dense_cosine, feature_overlap, l1_divergence, shifted_count }) => ({
        layer,
        dense_cosine,
        feature_overlap,
        l1_divergence,
        shifted_count,
      }));
    assert.equal(layers(reports[0]).length, 2);
    assert.deepEqual(layers(reports[0]), layers(reports[1]));
  });
});
