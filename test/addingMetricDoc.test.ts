/**
 * docs/adding-a-metric.md is the recipe for a new layer metric: the files it names must exist (the layer
 * rules it relies on are enforced by `npm run lint`: scripts/layers.mjs, proven in lintRules.test.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/paths';

test('docs/adding-a-metric.md names files that exist', () => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'adding-a-metric.md'), 'utf8');
  const named = [...doc.matchAll(/`((?:src|docs|test)\/[\w./-]+\.(?:ts|json|md))`/g)].map((m) => m[1]);
  assert.ok(named.length >= 5, 'the recipe names its files');
  assert.deepEqual(
    named.filter((f) => !fs.existsSync(path.join(REPO_ROOT, f))),
    [],
  );
});
