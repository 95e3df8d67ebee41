import Ajv, { ErrorObject } from 'ajv';
import { Document, isMap, isPair, isScalar, isSeq, LineCounter, Node, parseDocument, Scalar, YAMLMap } from 'yaml';
import { configSchema, resolveRef } from './schema';

/** 0-based line and character, as editors count them. */
export interface Position { line: number; character: number }
export interface Range { start: Position; end: Position }

export type Severity = 'error' | 'warning' | 'information';

/** One problem in a config file, with the exact range of the offending node. */
export interface ConfigDiagnostic {
  severity: Severity;
  message: string;
  range: Range;
  /** Stable identifier of the kind of problem, e.g. `unknown-key`. */
  code: string;
  /** Dotted path of the key concerned. */
  keyPath: string;
  /** Data a quick fix needs (e.g. the suggested key). */
  data?: Record<string, unknown>;
}

export interface ParsedConfigText {
  doc: Document.Parsed;
  lineCounter: LineCounter;
  diagnostics: ConfigDiagnostic[];
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validateSchema = ajv.compile(configSchema);

/** Parses YAML and checks it against the JSON Schema; returns positioned diagnostics (no file-system access). */
export function parseAndCheckConfigText(text: string): ParsedConfigText {
  const lineCounter = new LineCounter();
  // uniqueKeys off: the yaml library compares each key with every earlier one (quadratic); duplicateKeys is linear
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const diagnostics: ConfigDiagnostic[] = [];
  const rangeOf = (start: number, end: number): Range => ({ start: toPosition(lineCounter, start), end: toPosition(lineCounter, end) });
  for (const err of doc.errors.slice(0, MAX_DIAGNOSTICS)) {
    diagnostics.push({
      severity: 'error', code: 'yaml-syntax', keyPath: '',
      message: `YAML syntax error: ${firstLine(err.message)}`, range: rangeOf(err.pos[0], Math.max(err.pos[1], err.pos[0] + 1)),
    });
  }
  const scan = doc.errors.length === 0 ? scanDocument(doc) : { duplicates: [], nonFinite: [] };
  if (doc.errors.length === 0) {
    for (const key of scan.duplicates.slice(0, MAX_DIAGNOSTICS)) {
      diagnostics.push({ severity: 'error', code: 'yaml-syntax', keyPath: '', message: 'YAML syntax error: Map keys must be unique', range: rangeOf(key.range![0], Math.max(key.range![1], key.range![0] + 1)) });
    }
  }
  if (diagnostics.length > 0) return { doc, lineCounter, diagnostics: capped(diagnostics) };
  for (const warn of doc.warnings) {
    diagnostics.push({
      severity: 'warning', code: 'yaml-warning', keyPath: '',
      message: firstLine(warn.message), range: rangeOf(warn.pos[0], Math.max(warn.pos[1], warn.pos[0] + 1)),
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // the yaml library refuses a "billion laughs" document (aliases that expand exponentially) with a ReferenceError
    diagnostics.push({
      severity: 'error', code: 'yaml-syntax', keyPath: '',
      message: `YAML syntax error: the document expands too many aliases (*name), like a "billion laughs" attack: ${firstLine((e as Error).message)}. Write the values out instead of nesting aliases.`,
      range: rangeOf(0, 1),
    });
    return { doc, lineCounter, diagnostics };
  }
  if (data === null || data === undefined) {
    diagnostics.push({ severity: 'error', code: 'empty', keyPath: '', message: 'The config is empty: it needs a diagnostic_pipeline section.', range: rangeOf(0, 0) });
    return { doc, lineCounter, diagnostics };
  }
  for (const d of nonFiniteDiagnostics(scan.nonFinite.slice(0, MAX_DIAGNOSTICS), lineCounter)) diagnostics.push(d);
  if (!validateSchema(data)) {
    for (const d of schemaErrorsToDiagnostics(validateSchema.errors ?? [], doc, lineCounter)) diagnostics.push(d);
  }
  return { doc, lineCounter, diagnostics: capped(diagnostics) };
}

/** At most this many diagnostics are reported; the last one says how many more there are. */
export const MAX_DIAGNOSTICS = 100;

function capped(diagnostics: ConfigDiagnostic[]): ConfigDiagnostic[] {
  if (diagnostics.length <= MAX_DIAGNOSTICS) return diagnostics;
  const kept = diagnostics.slice(0, MAX_DIAGNOSTICS);
  kept.push({ ...kept[kept.length - 1], code: 'too-many', data: undefined, message: `Only the first ${MAX_DIAGNOSTICS} problems are listed; fix these first.` });
  return kept;
}

/**
 * One iterative pass over the document (a deep document cannot overflow the stack): the second and
 * later occurrence of each mapping key (a Set per map: linear, unlike the yaml library's uniqueKeys),
 * and the `.inf` / `-.inf` / `.nan` scalars, which YAML reads as numbers but no setting accepts.
 */
function scanDocument(doc: Document): { duplicates: Scalar[]; nonFinite: Scalar[] } {
  const duplicates: Scalar[] = [];
  const nonFinite: Scalar[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const n = stack.pop();
    if (isMap(n)) {
      const seen = new Set<string>();
      for (const p of n.items) {
        if (isScalar(p.key) && p.key.range) {
          const k = String(p.key.value);
          if (seen.has(k)) duplicates.push(p.key);
          seen.add(k);
        }
        if (p.value && typeof p.value === 'object') stack.push(p.value);
      }
    } else if (isSeq(n)) {
      for (const v of n.items) stack.push(v);
    } else if (isScalar(n) && typeof n.value === 'number' && !Number.isFinite(n.value) && n.range) nonFinite.push(n);
  }
  const byStart = (a: Scalar, b: Scalar) => a.range![0] - b.range![0];
  return { duplicates: duplicates.sort(byStart), nonFinite: nonFinite.sort(byStart) };
}

function nonFiniteDiagnostics(scalars: Scalar[], lc: LineCounter): ConfigDiagnostic[] {
  return scalars.map((n) => ({
    severity: 'error' as const, code: 'not-finite', keyPath: '',
    message: `${describeNumber(n.value)} is not a finite number: every number of the config must be finite.`,
    range: { start: toPosition(lc, n.range![0]), end: toPosition(lc, n.range![1]) },
  }));
}

/** A number as the user wrote it: NaN and ±Infinity are not "null" (what JSON.stringify says). */
export function describeNumber(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  return JSON.stringify(v);
}

function firstLine(s: string): string { return s.split('\n')[0].trim(); }

export function toPosition(lc: LineCounter, offset: number): Position {
  const p = lc.linePos(offset);
  return { line: p.line - 1, character: p.col - 1 };
}

/** Path segments of an ajv instancePath (`/a/b/0` -> ['a','b',0]). */
function pathSegments(instancePath: string, data?: unknown): (string | number)[] {
  if (!instancePath) return [];
  return instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) && Array.isArray(data) ? Number(s) : s));
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

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function describeSchemaType(s: Record<string, any> | undefined): string {
  if (!s) return 'a value';
  if (s.$ref) return describeSchemaType(resolveRef(s));
  if (s.oneOf) return s.oneOf.map(describeSchemaType).join(' or ');
  switch (s.type) {
    case 'string': return 'a string';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
    case 'boolean': return 'true or false';
    case 'array': return s.items?.properties?.path ? 'a list of {name, path}' : 'a list';
    case 'object': return s.properties?.path ? 'a {name, path} mapping' : 'a mapping';
    default: return 'a value';
  }
}

export function dotted(segments: (string | number)[]): string {
  return segments.map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[');
}

/** Edit distance, for "did you mean". */
export function levenshtein(a: string, b: string): number {
  const prev = new Array(b.length + 1).fill(0).map((_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export function suggestKey(unknown: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = levenshtein(unknown.toLowerCase(), c.toLowerCase());
    if (d < bestDist) { bestDist = d; best = c; }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function schemaErrorsToDiagnostics(errors: ErrorObject[], doc: Document, lc: LineCounter): ConfigDiagnostic[] {
  // oneOf: report the branch whose type matches the value, else one "must be X or Y" message.
  const oneOfFailures = errors.filter((e) => e.keyword === 'oneOf');
  const dropPrefixes: string[] = [];
  const extra: ErrorObject[] = [];
  for (const e of oneOfFailures) {
    const prefix = e.schemaPath.replace(/\/oneOf$/, '/oneOf/');
    dropPrefixes.push(prefix);
    const branches: any[] = (e.schema as any[]) ?? [];
    const t = jsonType(e.data);
    const matchIdx = branches.findIndex((b) => {
      const bs = resolveRef(b);
      return bs?.type === t || (bs?.type === 'number' && t === 'integer');
    });
    if (matchIdx >= 0) {
      const branchPrefix = `${prefix}${matchIdx}/`;
      for (const be of errors) if (be.schemaPath.startsWith(branchPrefix) && !be.schemaPath.slice(branchPrefix.length).startsWith('type')) extra.push(be);
      if (!extra.some((x) => x.schemaPath.startsWith(branchPrefix))) extra.push(e);
    } else extra.push(e);
  }
  const kept = errors.filter((e) => e.keyword !== 'oneOf' && !dropPrefixes.some((p) => e.schemaPath.startsWith(p))).concat(extra);
  const seen = new Set<string>();
  const out: ConfigDiagnostic[] = [];
  for (const e of kept) {
    if (out.length > MAX_DIAGNOSTICS) break; // capped() keeps MAX_DIAGNOSTICS and says there are more
    const d = schemaErrorToDiagnostic(e, doc, lc);
    if (!d) continue;
    const id = `${d.code}|${d.range.start.line}:${d.range.start.character}|${d.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(d);
  }
  return out;
}

function schemaErrorToDiagnostic(e: ErrorObject, doc: Document, lc: LineCounter): ConfigDiagnostic | undefined {
  const segs = pathSegments(e.instancePath);
  // numeric segments address sequence items
  const segments = segs.map((s, i) => (/^\d+$/.test(String(s)) && isSeq(nodeAt(doc, segs.slice(0, i))) ? Number(s) : s));
  const keyPath = dotted(segments);
  const name = keyPath || 'the document root';
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String((e.params as any).additionalProperty);
      const parentSchema = e.parentSchema as any;
      const candidates = Object.keys(parentSchema?.properties ?? {});
      const suggestion = suggestKey(prop, candidates);
      const full = dotted([...segments, prop]);
      const where = keyPath ? ` in ${keyPath}` : '';
      const msg = suggestion
        ? `Unknown key '${prop}'${where}. Did you mean '${suggestion}'?`
        : `Unknown key '${prop}'${where}. Allowed keys: ${candidates.join(', ')}.`;
      return { severity: 'error', code: 'unknown-key', keyPath: full, message: msg, range: keyRange(doc, [...segments, prop], lc), data: { key: prop, suggestion } };
    }
    case 'required': {
      const prop = String((e.params as any).missingProperty);
      return {
        severity: 'error', code: 'missing-key', keyPath: dotted([...segments, prop]),
        message: `Missing required key '${prop}' in ${name}.`, range: keyRange(doc, segments, lc), data: { key: prop },
      };
    }
    case 'type':
      return { severity: 'error', code: 'wrong-type', keyPath, message: `'${keyPath}' must be ${describeSchemaType(e.parentSchema as any)}.`, range: valueRange(doc, segments, lc) };
    case 'oneOf':
      return { severity: 'error', code: 'wrong-type', keyPath, message: `'${keyPath}' must be ${describeSchemaType(e.parentSchema as any)}.`, range: valueRange(doc, segments, lc) };
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
      const p = e.params as any;
      return {
        severity: 'error', code: 'out-of-range', keyPath,
        message: `'${keyPath}' is ${describeNumber(e.data)}, outside its range: it must be ${p.comparison} ${p.limit}.`, range: valueRange(doc, segments, lc),
      };
    }
    case 'enum':
      return {
        severity: 'error', code: 'bad-enum', keyPath,
        message: `'${keyPath}' is ${describeNumber(e.data)}; allowed values: ${((e.params as any).allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}.`,
        range: valueRange(doc, segments, lc), data: { allowed: (e.params as any).allowedValues },
      };
    case 'uniqueItems': {
      const j = (e.params as any).j as number; // the later duplicate
      const value = (e.data as unknown[])[j];
      return {
        severity: 'error', code: 'duplicate-item', keyPath: dotted([...segments, j]),
        message: `Duplicate ${segments[segments.length - 1] === 'target_indices' ? 'layer index' : 'item'} ${JSON.stringify(value)} in '${keyPath}'.`,
        range: valueRange(doc, [...segments, j], lc), data: { index: j },
      };
    }
    case 'minItems': case 'minLength': case 'minProperties':
      return { severity: 'error', code: 'empty-value', keyPath, message: `'${keyPath}' must not be empty.`, range: valueRange(doc, segments, lc) };
    case 'propertyNames':
      return undefined; // reported by its child error, which names the key
    case 'pattern': {
      // Under propertyNames, ajv puts the offending key in `propertyName` and the map's path in instancePath.
      const badKey = (e as ErrorObject & { propertyName?: string }).propertyName;
      if (badKey === undefined) {
        return { severity: 'error', code: 'bad-value', keyPath, message: `'${keyPath}' has an invalid format (it must match ${(e.params as any).pattern}).`, range: valueRange(doc, segments, lc) };
      }
      return {
        severity: 'error', code: 'bad-key', keyPath: dotted([...segments, badKey]),
        message: `'${badKey}' in '${keyPath}' must be a layer index (a non-negative integer).`, range: keyRange(doc, [...segments, badKey], lc), data: { key: badKey },
      };
    }
    default:
      return { severity: 'error', code: 'schema', keyPath, message: `'${name}' ${e.message ?? 'is invalid'}.`, range: valueRange(doc, segments, lc) };
  }
}
