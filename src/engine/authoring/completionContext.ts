import type { Segments } from '../config/configRefs';
import type { Position } from '../config/yamlNodes';
import { schemaAtPath } from './schemaLookup';

/**
 * What the cursor is completing, worked out from the text (which is often not valid YAML while
 * typing): block indentation gives the parent keys, a small scan of the current line handles
 * `key: value` and flow collections (`{ a: 1, b| }`, `[0, 1, |]`).
 */
export interface CompletionContext {
  kind: 'key' | 'value';
  /** For keys: the mapping's path. For values: the value's path (numbers index sequences). */
  segments: Segments;
  /** The partial word typed so far, and where it starts on the cursor's line. */
  typed: string;
  typedStart: number;
  /** Whether the value typed so far opens with a quote (the range then starts after it). */
  quoted: boolean;
  /** Keys already written in the same flow mapping on this line. */
  flowKeys: string[];
  /** Values already written in the same flow sequence on this line. */
  flowItems: string[];
}

const KEY_LINE = /^(\s*)(-\s+)?(?:("[^"]*"|'[^']*'|[A-Za-z_][\w.-]*|\d+)\s*:(?=\s|$))?/;

export function completionContext(text: string, position: Position): CompletionContext {
  const lines = text.split(/\r?\n/);
  const prefix = (lines[position.line] ?? '').slice(0, position.character);
  const m = KEY_LINE.exec(prefix)!;
  const dash = m[2] ?? '';
  const keyCol = m[1].length + dash.length;
  const parent = blockParent(lines, position.line, keyCol, dash ? m[1].length : undefined);
  if (m[3] === undefined) {
    // No `key:` yet: a key (or, inside a sequence of scalars, an item value).
    const typed = prefix.slice(keyCol);
    const itemSchema = dash ? schemaAtPath(parent) : undefined;
    const kind = dash && itemSchema?.type !== 'object' && !itemSchema?.$ref && !itemSchema?.oneOf ? 'value' : 'key';
    return {
      kind,
      segments: parent,
      typed: typed.trim(),
      typedStart: keyCol + (typed.length - typed.trimStart().length),
      quoted: false,
      flowKeys: [],
      flowItems: [],
    };
  }
  const valueStart = m[0].length;
  return scanFlow(prefix, valueStart, [...parent, unquote(m[3])]);
}

/** The mapping path that a key at column `keyCol` on line `lineNo` belongs to. */
function blockParent(lines: string[], lineNo: number, keyCol: number, dashCol: number | undefined): Segments {
  const segs: Segments = [];
  let col = keyCol;
  if (dashCol !== undefined) {
    segs.unshift(0); // a new item of a sequence: its index does not matter for the schema
    col = dashCol;
  }
  for (let j = lineNo - 1; j >= 0 && col > 0; j--) {
    const line = lines[j];
    if (/^\s*(#.*)?$/.test(line)) continue;
    const m = KEY_LINE.exec(line)!;
    const lineDash = m[2] ? m[1].length : undefined;
    const lineKeyCol = m[1].length + (m[2]?.length ?? 0);
    if (lineKeyCol > col) continue;
    if (lineKeyCol === col) {
      if (lineDash !== undefined) {
        segs.unshift(0); // sibling key inside a sequence item
        col = lineDash;
      }
      continue;
    }
    if (m[3] === undefined) break; // not a key line: cannot tell
    segs.unshift(unquote(m[3]));
    col = lineKeyCol;
    if (lineDash !== undefined) {
      segs.unshift(0);
      col = lineDash;
    }
  }
  return segs;
}

interface Frame {
  type: 'map' | 'seq';
  segments: Segments;
  key?: string;
  index: number;
  keys: string[];
  items: string[];
}

function scanFlow(prefix: string, start: number, base: Segments): CompletionContext {
  const stack: Frame[] = [];
  let tokenStart = start;
  let quote: string | undefined;
  const here = (): Segments => {
    const top = stack[stack.length - 1];
    if (!top) return base;
    return top.type === 'map' ? [...top.segments, top.key ?? ''] : [...top.segments, top.index];
  };
  for (let i = start; i < prefix.length; i++) {
    const ch = prefix[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      continue;
    }
    const top = stack[stack.length - 1];
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '{' || ch === '[') {
      stack.push({ type: ch === '{' ? 'map' : 'seq', segments: here(), index: 0, keys: [], items: [] });
      tokenStart = i + 1;
    } else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',' && top) {
      if (top.type === 'map') top.key = undefined;
      else {
        top.items.push(prefix.slice(tokenStart, i).trim());
        top.index++;
      }
      tokenStart = i + 1;
    } else if (ch === ':' && top?.type === 'map' && top.key === undefined && /\s/.test(prefix[i + 1] ?? ' ')) {
      top.key = unquote(prefix.slice(tokenStart, i).trim());
      top.keys.push(top.key);
      tokenStart = i + 1;
    }
  }
  const raw = prefix.slice(tokenStart);
  const typedStart = tokenStart + (raw.length - raw.trimStart().length);
  const typed = unquote(raw.trim(), true);
  const top = stack[stack.length - 1];
  const flowKeys = top?.type === 'map' ? top.keys : [];
  const flowItems = top?.type === 'seq' ? top.items : [];
  const quoteShift = /^["']/.test(raw.trimStart()) ? 1 : 0; // completions replace the text inside an open quote
  if (top?.type === 'map' && top.key === undefined)
    return { kind: 'key', segments: top.segments, typed, typedStart, quoted: false, flowKeys, flowItems };
  return { kind: 'value', segments: here(), typed, typedStart: typedStart + quoteShift, quoted: quoteShift > 0, flowKeys, flowItems };
}

function unquote(s: string, partial = false): string {
  if (/^"[^"]*"$|^'[^']*'$/.test(s)) return s.slice(1, -1);
  return partial && /^["']/.test(s) ? s.slice(1) : s;
}
