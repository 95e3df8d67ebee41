import { isMap, isSeq, LineCounter, Node, parseDocument, YAMLSeq } from 'yaml';
import { PIPELINE } from '../config/configRefs';
import type { ConfigDiagnostic } from '../config/configDiagnostic';
import { suggestKey } from '../config/suggestKey';
import { nodeAt, Range, toPosition } from '../config/yamlNodes';

export interface TextEdit {
  range: Range;
  newText: string;
}

export interface ConfigQuickFix {
  title: string;
  /** The diagnostic the fix resolves. */
  diagnostic: ConfigDiagnostic;
  edits: TextEdit[];
  preferred: boolean;
}

const TARGETS = [PIPELINE, 'layers', 'target_indices'];

/** Quick fixes for diagnostics of this text: rename an unknown key, drop a bad layer, use a {layer} template, pick an allowed value. */
export function quickFixesFor(text: string, diagnostics: ConfigDiagnostic[]): ConfigQuickFix[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  const fixes: ConfigQuickFix[] = [];
  const textOf = (r: Range) => sliceRange(text, lc, r);
  for (const d of diagnostics) {
    const data = d.data ?? {};
    switch (d.code) {
      case 'unknown-key':
        if (typeof data.suggestion === 'string')
          fixes.push({
            title: `Rename to '${data.suggestion}'`,
            diagnostic: d,
            edits: [{ range: d.range, newText: data.suggestion }],
            preferred: true,
          });
        break;
      case 'bad-enum': {
        const allowed = (data.allowed as unknown[] | undefined)?.map(String) ?? [];
        const best = suggestKey(textOf(d.range).replace(/^["']|["']$/g, ''), allowed);
        if (best) fixes.push({ title: `Change to '${best}'`, diagnostic: d, edits: [{ range: d.range, newText: best }], preferred: true });
        break;
      }
      case 'layer-out-of-range':
      case 'duplicate-item': {
        if (d.code === 'duplicate-item' && !d.keyPath.startsWith(TARGETS.join('.'))) break;
        const seq = nodeAt(doc, TARGETS);
        const edit = isSeq(seq) && typeof data.index === 'number' ? removeSeqItem(seq, data.index, text, lc) : undefined;
        const what = d.code === 'duplicate-item' ? 'duplicate layer' : 'layer';
        if (edit) fixes.push({ title: `Remove ${what} ${textOf(d.range)}`, diagnostic: d, edits: [edit], preferred: true });
        break;
      }
      case 'sae-hook-layer-mismatch':
        if (typeof data.template === 'string') {
          const quote = textOf(d.range).startsWith("'") ? "'" : '"';
          fixes.push({
            title: `Use the template ${data.template}`,
            diagnostic: d,
            edits: [{ range: d.range, newText: `${quote}${data.template}${quote}` }],
            preferred: true,
          });
        }
        break;
      case 'sae-hook-point-mismatch': {
        if (typeof data.hookPoint !== 'string') break;
        const edit = data.written ? { range: d.range, newText: data.hookPoint } : addLayersKey(doc, text, lc, 'hook_point', data.hookPoint);
        if (edit) fixes.push({ title: `Set layers.hook_point: ${data.hookPoint}`, diagnostic: d, edits: [edit], preferred: true });
        break;
      }
    }
  }
  return fixes;
}

/** Adds `key: value` to the layers map, in its flow (`{ … }`) or block style. */
function addLayersKey(
  doc: ReturnType<typeof parseDocument>,
  text: string,
  lc: LineCounter,
  key: string,
  value: string,
): TextEdit | undefined {
  const layers = nodeAt(doc, [PIPELINE, 'layers']);
  if (!isMap(layers) || !layers.range || layers.items.length === 0) return undefined;
  const pos = (offset: number) => toPosition(lc, offset);
  if (layers.flow) {
    const close = text.lastIndexOf('}', layers.range[1]);
    let at = close;
    while (at > 0 && /\s/.test(text[at - 1])) at--;
    return close < 0 ? undefined : { range: { start: pos(at), end: pos(at) }, newText: `, ${key}: ${value}` };
  }
  const first = layers.items[0].key as Node;
  const last = layers.items[layers.items.length - 1];
  const end = ((last.value as Node | null)?.range ?? (last.key as Node).range)![1];
  const lineEnd = text.indexOf('\n', end - 1);
  const indent = first.range![0] - (text.lastIndexOf('\n', first.range![0]) + 1);
  const at = lineEnd < 0 ? text.length : lineEnd;
  return { range: { start: pos(at), end: pos(at) }, newText: `\n${' '.repeat(indent)}${key}: ${value}` };
}

/** Deletes one item of a sequence with its separator: `, 7` in a flow list, the whole `- 7` line in a block list. */
function removeSeqItem(seq: YAMLSeq, index: number, text: string, lc: LineCounter): TextEdit | undefined {
  const items = seq.items as Node[];
  const item = items[index];
  if (!item?.range || items.length < 2) return undefined; // an empty list is invalid: nothing sensible to remove
  let start: number;
  let end: number;
  if (seq.flow) {
    if (index > 0) [start, end] = [items[index - 1].range![1], item.range[1]];
    else [start, end] = [item.range[0], items[1].range![0]];
  } else {
    start = text.lastIndexOf('\n', item.range[0] - 1) + 1;
    const nl = text.indexOf('\n', item.range[1]);
    end = nl < 0 ? text.length : nl + 1;
  }
  return { range: { start: toPosition(lc, start), end: toPosition(lc, end) }, newText: '' };
}

function sliceRange(text: string, lc: LineCounter, r: Range): string {
  const off = (p: { line: number; character: number }) => (lc.lineStarts[p.line] ?? text.length) + p.character;
  return text.slice(off(r.start), off(r.end));
}

/** Applies non-overlapping edits to text (used by tests and by the CLI's --fix, if it gets one). */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const lc = new LineCounter();
  parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  const off = (p: { line: number; character: number }) => (lc.lineStarts[p.line] ?? text.length) + p.character;
  return [...edits]
    .sort((a, b) => off(b.range.start) - off(a.range.start))
    .reduce((t, e) => t.slice(0, off(e.range.start)) + e.newText + t.slice(off(e.range.end)), text);
}
