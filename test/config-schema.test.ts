import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { formatDiagnosticLine, isSaeDiffConfigDocument, validateConfigFile, validateConfigText } from '../src/engine/authoring/index';
import type { ConfigDiagnostic, Range } from '../src/engine/authoring/index';

// Syntax and schema diagnostics: message and exact range of the offending node.
const CONFIG = path.resolve(__dirname, '../../test/.tmp/config-schema/x.sae-diff.yaml');

/** Range of the `nth` occurrence of `needle` in `text`, computed independently of the engine. */
function rangeOf(text: string, needle: string, nth = 0): Range {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  assert.ok(at >= 0, `'${needle}' not in text`);
  return spanAt(text, at, needle.length);
}

function spanAt(text: string, offset: number, length: number): Range {
  const pos = (off: number) => {
    const before = text.slice(0, off).split('\n');
    return { line: before.length - 1, character: before[before.length - 1].length };
  };
  return { start: pos(offset), end: pos(offset + length) };
}

function check(text: string): ConfigDiagnostic[] {
  return validateConfigText(text, CONFIG, { semantic: false }).diagnostics;
}

const VALID = `diagnostic_pipeline:
  models: { base: models/base, sft: models/sft }
  sae: { path: "saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0, 1, 2] }
  dataset: { path: prompts.jsonl }
  metrics: { cosine_threshold: 0.9 }
`;

describe('config syntax and schema diagnostics', () => {
  it('accepts a valid config', () => {
    assert.deepEqual(check(VALID), []);
  });

  it('reports a YAML syntax error at the parser position', () => {
    const text = 'diagnostic_pipeline:\n  models:\n    base: a\n   sft: b\n';
    const [d, ...rest] = check(text);
    assert.equal(rest.length, 0);
    assert.equal(d.code, 'yaml-syntax');
    assert.equal(d.message, 'YAML syntax error: All mapping items must start at the same column');
    assert.deepEqual(d.range, { start: { line: 3, character: 0 }, end: { line: 3, character: 1 } });
  });

  it('reports a duplicate key as a syntax error on the second key', () => {
    const text = 'diagnostic_pipeline:\n  sae: {path: x}\n  sae: {path: y}\n';
    const [d] = check(text);
    assert.equal(d.message, 'YAML syntax error: Map keys must be unique');
    assert.deepEqual(d.range.start, { line: 2, character: 2 });
  });

  it('reports an unknown key with a suggestion, on the key', () => {
    const text = VALID.replace('metrics:', 'metrcs:');
    const [d] = check(text);
    assert.equal(d.code, 'unknown-key');
    assert.equal(d.message, "Unknown key 'metrcs' in diagnostic_pipeline. Did you mean 'metrics'?");
    assert.deepEqual(d.range, rangeOf(text, 'metrcs'));
    assert.deepEqual(d.data, { key: 'metrcs', suggestion: 'metrics' });
  });

  it('lists the allowed keys when nothing is close', () => {
    const text = VALID.replace('k: 16', 'zzzzzz: 16');
    const [d] = check(text);
    assert.equal(d.message, "Unknown key 'zzzzzz' in diagnostic_pipeline.sae. Allowed keys: path, k, format, check_hook_layer, labels.");
    assert.deepEqual(d.range, rangeOf(text, 'zzzzzz'));
  });

  it('reports a wrong type on the value', () => {
    const text = VALID.replace('k: 16', 'k: many');
    const [d] = check(text);
    assert.equal(d.code, 'wrong-type');
    assert.equal(d.message, "'diagnostic_pipeline.sae.k' must be an integer.");
    assert.deepEqual(d.range, rangeOf(text, 'many'));
  });

  it('reports a missing required key on its parent key', () => {
    const text = VALID.replace('  dataset: { path: prompts.jsonl }\n', '');
    const [d] = check(text);
    assert.equal(d.code, 'missing-key');
    assert.equal(d.message, "Missing required key 'dataset' in diagnostic_pipeline.");
    assert.deepEqual(d.range, rangeOf(text, 'diagnostic_pipeline'));
  });

  it('reports a threshold outside its range', () => {
    const text = VALID.replace('cosine_threshold: 0.9', 'cosine_threshold: 1.5');
    const [d] = check(text);
    assert.equal(d.code, 'out-of-range');
    assert.equal(d.message, "'diagnostic_pipeline.metrics.cosine_threshold' is 1.5, outside its range: it must be <= 1.");
    assert.deepEqual(d.range, rangeOf(text, '1.5'));
  });

  it('reports a duplicate layer index on the later duplicate', () => {
    const text = VALID.replace('[0, 1, 2]', '[0, 2, 2]');
    const [d] = check(text);
    assert.equal(d.code, 'duplicate-item');
    assert.equal(d.message, "Duplicate layer index 2 in 'diagnostic_pipeline.layers.target_indices'.");
    assert.deepEqual(d.range, spanAt(text, text.indexOf('[0, 2, 2]') + '[0, 2, '.length, 1));
  });

  it('reports a map key that is not a layer index on that key (propertyNames)', () => {
    const text = VALID.replace('path: "saes/blocks.{layer}.hook_resid_post"', 'path: { 0: saes/a, x1: saes/b }');
    const [d] = check(text);
    assert.equal(d.code, 'bad-key');
    assert.equal(d.message, "'x1' in 'diagnostic_pipeline.sae.path' must be a layer index (a non-negative integer).");
    assert.deepEqual(d.range, rangeOf(text, 'x1'));
  });

  it('reports a value outside an enum with the allowed values', () => {
    const text = VALID.replace('k: 16', 'format: saelense');
    const [d] = check(text);
    assert.equal(d.code, 'bad-enum');
    assert.equal(
      d.message,
      `'diagnostic_pipeline.sae.format' is "saelense"; allowed values: "auto", "saelens", "sparsify", "gemmascope", "dictionary_learning", "lm_saes", "attention_output_saes", "torch_state_dict".`,
    );
    assert.deepEqual(d.range, rangeOf(text, 'saelense'));
  });

  it('reports an empty document', () => {
    const [d] = check('# nothing yet\n');
    assert.equal(d.code, 'empty');
  });

  it('formats a diagnostic as file:line:col: severity: message (1-based)', () => {
    const text = VALID.replace('metrics:', 'metrcs:');
    const [d] = check(text);
    assert.equal(
      formatDiagnosticLine('x.yaml', d),
      "x.yaml:6:3: error: Unknown key 'metrcs' in diagnostic_pipeline. Did you mean 'metrics'?",
    );
  });

  it('validateConfigFile reports an unreadable file', async () => {
    const [d] = await validateConfigFile(path.join(path.dirname(CONFIG), 'does-not-exist.yaml'));
    assert.equal(d.code, 'unreadable');
    assert.match(d.message, /^Cannot read the config file: ENOENT/);
  });

  it('recognises config documents by name or by root key', () => {
    assert.equal(isSaeDiffConfigDocument('/a/run.sae-diff.yaml', ''), true);
    assert.equal(isSaeDiffConfigDocument('/a/run.sae-diff.yml', 'x: 1'), true);
    assert.equal(isSaeDiffConfigDocument('/a/other.yaml', '# comment\n---\ndiagnostic_pipeline:\n  models: {}\n'), true);
    assert.equal(isSaeDiffConfigDocument('/a/other.yaml', 'name: ci\ndiagnostic_pipeline: {}\n'), false);
    assert.equal(isSaeDiffConfigDocument('/a/docker-compose.yml', 'services: {}\n'), false);
  });
});
