import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { applyEdits, completionsAt, hoverAt, quickFixesFor, starterConfigText, validateConfigText } from '../src/engine/authoring/index';
import type { Position } from '../src/engine/authoring/index';

// Hovers, completions, quick fixes and the starter config, on configs that name the tiny-llama fixtures.
const FIX = path.resolve(__dirname, '../../test/fixtures/tiny-llama');
const TMP = path.resolve(__dirname, '../../test/.tmp/config-editing');
const CONFIG = path.join(TMP, 'edit.sae-diff.yaml');
const F = path.relative(TMP, FIX).split(path.sep).join('/');
const ENV = { HF_HUB_CACHE: path.join(TMP, 'empty-hub') };

const TEXT = `diagnostic_pipeline:
  models: { base: ${F}/base, sft: ${F}/sft-late }
  sae: { path: "${F}/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers:
    target_indices: [0, 3]
  dataset: { path: ${F}/eval/general.txt }
`;

/** Position of the `|` marker in text; returns the text without it. */
function at(marked: string): { text: string; pos: Position } {
  const off = marked.indexOf('|');
  const before = marked.slice(0, off).split('\n');
  return {
    text: marked.slice(0, off) + marked.slice(off + 1),
    pos: { line: before.length - 1, character: before[before.length - 1].length },
  };
}

function positionOf(text: string, needle: string, delta = 0): Position {
  const lines = text.slice(0, text.indexOf(needle) + delta).split('\n');
  return { line: lines.length - 1, character: lines[lines.length - 1].length };
}

const labels = (marked: string) => {
  const { text, pos } = at(marked);
  return completionsAt(text, CONFIG, pos, { env: ENV }).map((c) => c.label);
};

function errorsOf(text: string) {
  return validateConfigText(text, CONFIG, { env: ENV }).diagnostics;
}

/** Applies the one quick fix for the one diagnostic of `text`, and returns the fixed text. */
function fixOnce(text: string, code: string): { title: string; fixed: string } {
  const ds = errorsOf(text);
  assert.deepEqual(
    ds.map((d) => d.code),
    [code],
  );
  const fixes = quickFixesFor(text, ds);
  assert.equal(fixes.length, 1);
  return { title: fixes[0].title, fixed: applyEdits(text, fixes[0].edits) };
}

describe('config hovers', () => {
  before(() => fs.mkdirSync(TMP, { recursive: true }));

  it('documents a key from the schema, with its default', () => {
    const h = hoverAt(TEXT, CONFIG, positionOf(TEXT, 'k: 16'))!;
    assert.equal(
      h.markdown,
      '**k** — `integer`, default `128`, range 1 … ∞\n\nk of the top-k feature overlap: the k most active features of each token are compared between base and fine-tune.',
    );
    assert.deepEqual(h.range, { start: positionOf(TEXT, 'k: 16'), end: positionOf(TEXT, 'k: 16', 1) });
  });

  it('documents enum keys with their allowed values', () => {
    const text = TEXT.replace('k: 16', 'format: auto');
    const h = hoverAt(text, CONFIG, positionOf(text, 'format'))!;
    assert.match(
      h.markdown,
      /^\*\*format\*\* — `string`, default `"auto"`, one of `auto`, `saelens`, `sparsify`, `gemmascope`, `dictionary_learning`, `lm_saes`, `attention_output_saes`, `torch_state_dict`\n\nSAE file layout/,
    );
  });

  it("shows the model's layer count and hidden size on a layer index", () => {
    const h = hoverAt(TEXT, CONFIG, positionOf(TEXT, '3]'))!;
    assert.match(h.markdown, /^\*\*Layer 3\*\*: layer 3 of 0-5\. The base model has 6 layers, hidden size 128\./);
    assert.match(h.markdown, /\*\*target_indices\*\*/);
    assert.deepEqual(h.range, { start: positionOf(TEXT, '3]'), end: positionOf(TEXT, '3]', 1) });
  });

  it("shows each target layer's SAE architecture, width, hook and dtype on an SAE path", () => {
    const h = hoverAt(TEXT, CONFIG, positionOf(TEXT, 'saes/blocks'))!;
    assert.ok(h.markdown.includes('| 0 | standard | 1024 | 128 | blocks.0.hook_resid_post (layer 0) | float32 |'), h.markdown);
    assert.ok(h.markdown.includes('| 3 | standard | 1024 | 128 | blocks.3.hook_resid_post (layer 3) | float32 |'), h.markdown);
    const variant = TEXT.replace(`"${F}/saes/blocks.{layer}.hook_resid_post"`, `{ 3: ${F}/saes-variants/topk }`).replace('[0, 3]', '[3]');
    const v = hoverAt(variant, CONFIG, positionOf(variant, 'saes-variants'))!;
    assert.ok(v.markdown.includes('| 3 | topk (k 16) | 1024 | 128 |'), v.markdown);
  });

  it('shows what a model path resolves to', () => {
    const h = hoverAt(TEXT, CONFIG, positionOf(TEXT, `${F}/sft-late`))!;
    assert.match(h.markdown, /^\*\*models\.sft\*\*: `.*sft-late`\n\nllama, 6 layers, hidden size 128, ONNX `model\.onnx`/);
  });
});

describe('config completions', () => {
  it('offers the keys of the current block mapping that are not present yet', () => {
    assert.deepEqual(labels(TEXT.replace('  dataset:', '  |\n  dataset:')), ['metrics', 'runtime', 'output']);
    assert.deepEqual(labels(TEXT.replace('    target_indices: [0, 3]\n', '    target_indices: [0, 3]\n    hook_p|\n')), [
      'hook_mode',
      'hook_point',
      'tensor_names',
    ]);
    assert.deepEqual(labels('|'), ['diagnostic_pipeline']);
  });

  it('offers keys inside a flow mapping, minus those written', () => {
    assert.deepEqual(labels(TEXT.replace(', k: 16 }', ', | }')), ['k', 'format', 'check_hook_layer', 'labels']);
  });

  it('inserts "key: " with the replaced range covering the partial key', () => {
    const { text, pos } = at('diagnostic_pipeline:\n  mod|');
    const [c] = completionsAt(text, CONFIG, pos);
    assert.equal(c.label, 'models');
    assert.equal(c.insertText, 'models:');
    assert.deepEqual(c.range, { start: { line: 1, character: 2 }, end: pos });
  });

  it('offers enum values and booleans', () => {
    assert.deepEqual(labels(TEXT.replace(', k: 16 }', ', format: | }')), [
      'auto',
      'saelens',
      'sparsify',
      'gemmascope',
      'dictionary_learning',
      'lm_saes',
      'attention_output_saes',
      'torch_state_dict',
    ]);
    assert.deepEqual(labels('diagnostic_pipeline:\n  runtime:\n    execution_provider: c|'), [
      'auto',
      'cpu',
      'cuda',
      'webgpu',
      'dml',
      'coreml',
    ]);
    assert.deepEqual(labels('diagnostic_pipeline:\n  sae:\n    check_hook_layer: |'), ['true', 'false']);
  });

  it("offers the model's layer indices that are not targeted yet", () => {
    assert.deepEqual(labels(TEXT.replace('[0, 3]', '[0, 3, |]')), ['1', '2', '4', '5']);
    assert.deepEqual(labels(TEXT.replace('    target_indices: [0, 3]', '    target_indices: |')), ['[0, 1, 2, 3, 4, 5]']);
    const block = TEXT.replace('    target_indices: [0, 3]', '    target_indices:\n      - 0\n      - |');
    assert.deepEqual(labels(block), ['1', '2', '3', '4', '5']);
  });

  it("offers the keys of the dataset's first records (or Parquet columns) that hold strings or lists for dataset.field", () => {
    const jsonl = path.join(TMP, 'gsm8k.jsonl');
    fs.writeFileSync(
      jsonl,
      '{"question": "q1", "answer": "a1", "id": 7}\n{"question": "q2", "dialog": [{"role": "user", "content": "x"}]}\n',
    );
    const withDataset = (file: string) => TEXT.replace(`{ path: ${F}/eval/general.txt }`, `{ path: ${JSON.stringify(file)}, field: | }`);
    const items = (file: string) => {
      const { text, pos } = at(withDataset(file));
      return completionsAt(text, CONFIG, pos, { env: ENV }).map((c) => [c.label, c.detail]);
    };
    assert.deepEqual(items(jsonl), [
      ['question', 'strings in 2 of the first 2 records'],
      ['answer', 'strings in 1 of the first 2 records'],
      ['dialog', 'lists (chat messages) in 1 of the first 2 records'],
    ]);
    const parquet = path.resolve(__dirname, '../../test/fixtures/parquet/text-no-prompt.parquet');
    assert.deepEqual(items(parquet), [
      ['question', 'strings (a Parquet column)'],
      ['answer', 'strings (a Parquet column)'],
    ]);
  });

  it('offers folders for model paths and files for the dataset, relative to the config', () => {
    const models = labels(TEXT.replace(`base: ${F}/base`, `base: ${F}/|`));
    assert.deepEqual(models.sort(), ['base/', 'eval/', 'golden/', 'saes-variants/', 'saes/', 'sft-domain/', 'sft-late/', 'sft-refusal/']);
    const { text, pos } = at(TEXT.replace(`path: ${F}/eval/general.txt`, `path: ${F}/eval/ge|`));
    const files = completionsAt(text, CONFIG, pos);
    assert.deepEqual(files.map((c) => c.label).sort(), ['chat.jsonl', 'domain.jsonl', 'general.jsonl', 'general.txt']);
    assert.deepEqual(files[0].range, { start: { line: pos.line, character: pos.character - 2 }, end: pos }); // only the last path segment
  });

  it('offers {layer} templates for SAE folders that follow the pattern', () => {
    const got = labels(TEXT.replace(`"${F}/saes/blocks.{layer}.hook_resid_post"`, `${F}/saes/|`));
    assert.ok(got.includes(`${F}/saes/blocks.{layer}.hook_resid_post`), got.join(' '));
  });
});

describe('config quick fixes', () => {
  it('renames an unknown key to the suggestion', () => {
    const text = TEXT.replace('  dataset:', '  metrcs: { cosine_threshold: 0.9 }\n  dataset:');
    const { title, fixed } = fixOnce(text, 'unknown-key');
    assert.equal(title, "Rename to 'metrics'");
    assert.equal(fixed, text.replace('metrcs', 'metrics'));
    assert.deepEqual(errorsOf(fixed), []);
  });

  it('removes an out-of-range layer from a flow list', () => {
    for (const [list, expected] of [
      ['[0, 3, 7]', '[0, 3]'],
      ['[9, 0, 3]', '[0, 3]'],
    ]) {
      const text = TEXT.replace('[0, 3]', list);
      const { title, fixed } = fixOnce(text, 'layer-out-of-range');
      assert.match(title, /^Remove layer [79]$/);
      assert.equal(fixed, TEXT.replace('[0, 3]', expected));
      assert.deepEqual(errorsOf(fixed), []);
    }
  });

  it('removes an out-of-range layer from a block list', () => {
    const text = TEXT.replace('    target_indices: [0, 3]', '    target_indices:\n      - 0\n      - 12  # too deep\n      - 3');
    const { fixed } = fixOnce(text, 'layer-out-of-range');
    assert.equal(fixed, TEXT.replace('    target_indices: [0, 3]', '    target_indices:\n      - 0\n      - 3'));
    assert.deepEqual(errorsOf(fixed), []);
  });

  it('turns a single SAE path into a {layer} template', () => {
    const text = TEXT.replace(`"${F}/saes/blocks.{layer}.hook_resid_post"`, `${F}/saes/blocks.3.hook_resid_post`);
    const { title, fixed } = fixOnce(text, 'sae-hook-layer-mismatch');
    assert.equal(title, `Use the template ${F}/saes/blocks.{layer}.hook_resid_post`);
    assert.equal(fixed, TEXT);
    assert.deepEqual(errorsOf(fixed), []);
  });

  it('replaces a misspelt enum value and removes a duplicate layer', () => {
    const bad = TEXT.replace(', k: 16 }', ', format: saelns }');
    const enumFix = fixOnce(bad, 'bad-enum');
    assert.equal(enumFix.title, "Change to 'saelens'");
    assert.deepEqual(errorsOf(enumFix.fixed), []);
    const dup = fixOnce(TEXT.replace('[0, 3]', '[0, 3, 3]'), 'duplicate-item');
    assert.equal(dup.fixed, TEXT);
  });
});

describe('starter config', () => {
  it('is a valid, commented config', () => {
    const text = starterConfigText();
    assert.match(text, /^# SAE Diff diagnostic config/);
    assert.deepEqual(validateConfigText(text, CONFIG, { semantic: false }).diagnostics, []);
  });

  it('passes every check once it names real files', () => {
    const text = starterConfigText({
      base: `${F}/base`,
      sft: `${F}/sft-domain`,
      sae: `${F}/saes/blocks.{layer}.hook_resid_post`,
      dataset: `${F}/eval/domain.jsonl`,
      layers: [1, 4],
    });
    assert.deepEqual(errorsOf(text), []);
  });
});
