/** Where a YAML path is in the text: the ranges every config diagnostic, hover and quick fix points at. */
import { Document, isMap, isPair, isScalar, isSeq, LineCounter, Node, Scalar, YAMLMap } from 'yaml';

/** 0-based line and character, as editors count them. */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

export function toPosition(lc: LineCounter, offset: number): Position {
  const p = lc.linePos(offset);
  return { line: p.line - 1, character: p.col - 1 };
}

/** The YAML node at a path, resolving numeric segments against sequences. */
export function nodeAt(doc: Document, segments: (string | number)[]): Node | undefined {
  let node: unknown = doc.contents;
  for (const seg of segments) {
    if (isMap(node)) node = findPair(node, String(seg))?.value;
    else if (isSeq(node)) node = node.items[Number(seg)];
    else return undefined;
  }
  return node as Node | undefined;
}

/** Index of each mapping's scalar keys, so that locating N diagnostics costs O(N), not O(N × keys). */
const pairIndex = new WeakMap<YAMLMap, { items: unknown[]; length: number; byKey: Map<string, YAMLMap['items'][number]> }>();

export function findPair(map: YAMLMap, key: string) {
  let idx = pairIndex.get(map);
  if (!idx || idx.items !== map.items || idx.length !== map.items.length) {
    const byKey = new Map<string, YAMLMap['items'][number]>();
    for (const p of map.items) {
      if (!isPair(p) || !isScalar(p.key)) continue;
      const k = String((p.key as Scalar).value);
      if (!byKey.has(k)) byKey.set(k, p); // the first pair of a key, as Array.find gave
    }
    idx = { items: map.items, length: map.items.length, byKey };
    pairIndex.set(map, idx);
  }
  return idx.byKey.get(key);
}

function nodeRange(node: Node | undefined | null, lc: LineCounter): Range {
  const r = node?.range;
  if (!r) return { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
  return { start: toPosition(lc, r[0]), end: toPosition(lc, r[1]) };
}

/** Range of the key (not the value) at a path; the value's own range if it has no key. */
export function keyRange(doc: Document, segments: (string | number)[], lc: LineCounter): Range {
  if (segments.length === 0) return nodeRange(doc.contents as Node, lc);
  const parent = nodeAt(doc, segments.slice(0, -1));
  const last = segments[segments.length - 1];
  if (isMap(parent)) {
    const pair = findPair(parent, String(last));
    if (pair) return nodeRange(pair.key as Node, lc);
  }
  return nodeRange(nodeAt(doc, segments), lc);
}

export function valueRange(doc: Document, segments: (string | number)[], lc: LineCounter): Range {
  const node = nodeAt(doc, segments);
  return node ? nodeRange(node, lc) : keyRange(doc, segments, lc);
}

/** A YAML path as a key name for messages (`sae.path`, `models.sft[1]`). */
export function dotted(segments: (string | number)[]): string {
  return segments
    .map((s) => (typeof s === 'number' ? `[${s}]` : s))
    .join('.')
    .replace(/\.\[/g, '[');
}
