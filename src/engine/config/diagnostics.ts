/** Parses a config's YAML and checks it against the schema: the one syntax and schema check, shared by validation and the strict loader. */
import Ajv from 'ajv';
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar } from 'yaml';
import { ConfigDiagnostic, describeNumber, MAX_DIAGNOSTICS } from './configDiagnostic';
import { configSchema } from './schema';
import { schemaErrorsToDiagnostics } from './schemaErrors';
import { Range, toPosition } from './yamlNodes';

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
      severity: 'error',
      code: 'yaml-syntax',
      keyPath: '',
      message: `YAML syntax error: ${firstLine(err.message)}`,
      range: rangeOf(err.pos[0], Math.max(err.pos[1], err.pos[0] + 1)),
    });
  }
  const scan = doc.errors.length === 0 ? scanDocument(doc) : { duplicates: [], nonFinite: [] };
  if (doc.errors.length === 0) {
    for (const key of scan.duplicates.slice(0, MAX_DIAGNOSTICS)) {
      diagnostics.push({
        severity: 'error',
        code: 'yaml-syntax',
        keyPath: '',
        message: 'YAML syntax error: Map keys must be unique',
        range: rangeOf(key.range![0], Math.max(key.range![1], key.range![0] + 1)),
      });
    }
  }
  if (diagnostics.length > 0) return { doc, lineCounter, diagnostics: capped(diagnostics) };
  for (const warn of doc.warnings) {
    diagnostics.push({
      severity: 'warning',
      code: 'yaml-warning',
      keyPath: '',
      message: firstLine(warn.message),
      range: rangeOf(warn.pos[0], Math.max(warn.pos[1], warn.pos[0] + 1)),
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // the yaml library refuses a "billion laughs" document (aliases that expand exponentially) with a ReferenceError
    diagnostics.push({
      severity: 'error',
      code: 'yaml-syntax',
      keyPath: '',
      message: `YAML syntax error: the document expands too many aliases (*name), like a "billion laughs" attack: ${firstLine((e as Error).message)}. Write the values out instead of nesting aliases.`,
      range: rangeOf(0, 1),
    });
    return { doc, lineCounter, diagnostics };
  }
  if (data === null || data === undefined) {
    diagnostics.push({
      severity: 'error',
      code: 'empty',
      keyPath: '',
      message: 'The config is empty: it needs a diagnostic_pipeline section.',
      range: rangeOf(0, 0),
    });
    return { doc, lineCounter, diagnostics };
  }
  for (const d of nonFiniteDiagnostics(scan.nonFinite.slice(0, MAX_DIAGNOSTICS), lineCounter)) diagnostics.push(d);
  if (!validateSchema(data)) {
    for (const d of schemaErrorsToDiagnostics(validateSchema.errors ?? [], doc, lineCounter)) diagnostics.push(d);
  }
  return { doc, lineCounter, diagnostics: capped(diagnostics) };
}

function capped(diagnostics: ConfigDiagnostic[]): ConfigDiagnostic[] {
  if (diagnostics.length <= MAX_DIAGNOSTICS) return diagnostics;
  const kept = diagnostics.slice(0, MAX_DIAGNOSTICS);
  kept.push({
    ...kept[kept.length - 1],
    code: 'too-many',
    data: undefined,
    message: `Only the first ${MAX_DIAGNOSTICS} problems are listed; fix these first.`,
  });
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
    severity: 'error' as const,
    code: 'not-finite',
    keyPath: '',
    message: `${describeNumber(n.value)} is not a finite number: every number of the config must be finite.`,
    range: { start: toPosition(lc, n.range![0]), end: toPosition(lc, n.range![1]) },
  }));
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}
