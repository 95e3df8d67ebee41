/**
 * The source folders import only downward (README "Layout"; docs/adding-a-metric.md relies on it):
 * src/shared imports nothing from src/engine, webview only src/shared, and no engine folder imports one
 * above it. Read from the sources, so a new upward import fails here with its file and line.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/paths';

/** Low to high; folders of one rank do not import each other's rank either way except as listed below. */
const RANK: Record<string, number> = {
  shared: 0,
  'engine/core': 1, 'engine/io': 1,
  'engine/config': 2,
  'engine/runtime': 3,
  'engine/model': 4,
  'engine/data': 5,
  'engine/sae': 6,
  'engine/metrics': 7,
  'engine/report': 8,
  'engine/authoring': 9, 'engine/pipeline': 9, 'engine/merge': 9, 'engine/worker': 9,
  cli: 10, extension: 10,
};

/** Imports within one rank that are part of the design: the worker runs the pipeline; io reports core's errors. */
const SAME_RANK_ALLOWED = new Set(['engine/worker -> engine/pipeline', 'engine/io -> engine/core']);

/**
 * Upward imports still to be removed by other work, each named; an entry that no longer occurs fails the
 * test, so the list only shrinks. config -> model: the Hugging Face id resolver (hfCache) moves down
 * with the config reader (issue #14, config part).
 */
const KNOWN_UPWARD = new Set(['engine/config -> engine/model']);

function folderOf(file: string): string | undefined {
  const parts = path.relative(REPO_ROOT, file).split(path.sep);
  if (parts[0] === 'webview') return 'webview';
  if (parts[0] !== 'src') return undefined;
  return parts[1] === 'engine' ? `engine/${parts[2]}` : parts[1];
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import (static, type-only, re-export or dynamic) of the sources, with its line. */
function imports(): { from: string; to: string; where: string }[] {
  const out: { from: string; to: string; where: string }[] = [];
  for (const file of [...sources(path.join(REPO_ROOT, 'src')), ...sources(path.join(REPO_ROOT, 'webview'))]) {
    fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
        const from = folderOf(file), to = folderOf(path.resolve(path.dirname(file), m[1]));
        if (from && to && from !== to) out.push({ from, to, where: `${path.relative(REPO_ROOT, file)}:${i + 1}` });
      }
    });
  }
  return out;
}

test('no source folder imports one above it (src/shared nothing of the engine, webview only src/shared)', () => {
  const edges = imports();
  assert.ok(edges.length > 50, 'the scan finds the imports');
  const bad: string[] = [];
  const seenKnown = new Set<string>();
  for (const { from, to, where } of edges) {
    const edge = `${from} -> ${to}`;
    if (from === 'webview') {
      if (to !== 'shared') bad.push(`${where}: ${edge} (the webview imports only src/shared)`);
      continue;
    }
    if (to === 'webview' || !(from in RANK) || !(to in RANK)) { bad.push(`${where}: ${edge} (unknown layer)`); continue; }
    if (KNOWN_UPWARD.has(edge)) { seenKnown.add(edge); continue; }
    if (RANK[to] > RANK[from] || (RANK[to] === RANK[from] && !SAME_RANK_ALLOWED.has(edge))) bad.push(`${where}: ${edge}`);
  }
  assert.deepEqual(bad, []);
  assert.deepEqual([...KNOWN_UPWARD].filter((e) => !seenKnown.has(e)), [], 'an upward import listed as known is gone: remove it from KNOWN_UPWARD');
});

test('docs/adding-a-metric.md names files that exist', () => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'adding-a-metric.md'), 'utf8');
  const named = [...doc.matchAll(/`((?:src|docs|test)\/[\w./-]+\.(?:ts|json|md))`/g)].map((m) => m[1]);
  assert.ok(named.length >= 5, 'the recipe names its files');
  assert.deepEqual(named.filter((f) => !fs.existsSync(path.join(REPO_ROOT, f))), []);
});
