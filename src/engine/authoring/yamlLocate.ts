import { Document, isMap, isPair, isScalar, isSeq, LineCounter, Node, Scalar } from 'yaml';
import type { Segments } from '../config/configRefs';
import type { Position } from '../config/yamlNodes';

export interface NodeLocation {
  /** YAML path of the key or value under the cursor (numbers index sequences). */
  segments: Segments;
  on: 'key' | 'value';
  node?: Node;
}

export function offsetOf(lc: LineCounter, text: string, pos: Position): number {
  const lineStart = pos.line === 0 ? 0 : lc.lineStarts[pos.line];
  return (lineStart ?? text.length) + pos.character;
}

const contains = (node: Node | null | undefined, offset: number) => !!node?.range && node.range[0] <= offset && offset <= node.range[1];

/** The innermost key or scalar value at a character offset. */
export function locateOffset(doc: Document, offset: number): NodeLocation | undefined {
  return walk(doc.contents as Node | null, offset, []);
}

function walk(node: Node | null, offset: number, segs: Segments): NodeLocation | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String((pair.key as Scalar).value);
      if (contains(pair.key as Node, offset)) return { segments: [...segs, key], on: 'key', node: pair.key as Node };
      const value = pair.value as Node | null;
      if (contains(value, offset)) return walk(value, offset, [...segs, key]) ?? { segments: [...segs, key], on: 'value', node: value! };
    }
    return undefined;
  }
  if (isSeq(node)) {
    const i = node.items.findIndex((item) => contains(item as Node, offset));
    return i < 0
      ? undefined
      : (walk(node.items[i] as Node, offset, [...segs, i]) ?? { segments: [...segs, i], on: 'value', node: node.items[i] as Node });
  }
  if (isScalar(node) && contains(node, offset)) return { segments: segs, on: 'value', node };
  return undefined;
}
