/** ajv's JSON Schema errors as config diagnostics: one message per problem, naming the key, on its exact range. */
import type { ErrorObject } from 'ajv';
import { Document, isSeq, LineCounter } from 'yaml';
import { ConfigDiagnostic, describeNumber, MAX_DIAGNOSTICS } from './configDiagnostic';
import { resolveRef } from './schema';
import { suggestKey } from './suggestKey';
import { dotted, keyRange, nodeAt, valueRange } from './yamlNodes';

/** Path segments of an ajv instancePath (`/a/b/0` -> ['a','b',0]). */
function pathSegments(instancePath: string, data?: unknown): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) && Array.isArray(data) ? Number(s) : s));
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
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return s.items?.properties?.path ? 'a list of {name, path}' : 'a list';
    case 'object':
      return s.properties?.path ? 'a {name, path} mapping' : 'a mapping';
    default:
      return 'a value';
  }
}

export function schemaErrorsToDiagnostics(errors: ErrorObject[], doc: Document, lc: LineCounter): ConfigDiagnostic[] {
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
      for (const be of errors)
        if (be.schemaPath.startsWith(branchPrefix) && !be.schemaPath.slice(branchPrefix.length).startsWith('type')) extra.push(be);
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
      return {
        severity: 'error',
        code: 'unknown-key',
        keyPath: full,
        message: msg,
        range: keyRange(doc, [...segments, prop], lc),
        data: { key: prop, suggestion },
      };
    }
    case 'required': {
      const prop = String((e.params as any).missingProperty);
      return {
        severity: 'error',
        code: 'missing-key',
        keyPath: dotted([...segments, prop]),
        message: `Missing required key '${prop}' in ${name}.`,
        range: keyRange(doc, segments, lc),
        data: { key: prop },
      };
    }
    case 'type':
    case 'oneOf':
      return {
        severity: 'error',
        code: 'wrong-type',
        keyPath,
        message: `'${keyPath}' must be ${describeSchemaType(e.parentSchema as any)}.`,
        range: valueRange(doc, segments, lc),
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const p = e.params as any;
      return {
        severity: 'error',
        code: 'out-of-range',
        keyPath,
        message: `'${keyPath}' is ${describeNumber(e.data)}, outside its range: it must be ${p.comparison} ${p.limit}.`,
        range: valueRange(doc, segments, lc),
      };
    }
    case 'enum':
      return {
        severity: 'error',
        code: 'bad-enum',
        keyPath,
        message: `'${keyPath}' is ${describeNumber(e.data)}; allowed values: ${((e.params as any).allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}.`,
        range: valueRange(doc, segments, lc),
        data: { allowed: (e.params as any).allowedValues },
      };
    case 'uniqueItems': {
      const j = (e.params as any).j as number; // the later duplicate
      const value = (e.data as unknown[])[j];
      return {
        severity: 'error',
        code: 'duplicate-item',
        keyPath: dotted([...segments, j]),
        message: `Duplicate ${segments[segments.length - 1] === 'target_indices' ? 'layer index' : 'item'} ${JSON.stringify(value)} in '${keyPath}'.`,
        range: valueRange(doc, [...segments, j], lc),
        data: { index: j },
      };
    }
    case 'minItems':
    case 'minLength':
    case 'minProperties':
      return {
        severity: 'error',
        code: 'empty-value',
        keyPath,
        message: `'${keyPath}' must not be empty.`,
        range: valueRange(doc, segments, lc),
      };
    case 'propertyNames':
      return undefined; // reported by its child error, which names the key
    case 'pattern': {
      // Under propertyNames, ajv puts the offending key in `propertyName` and the map's path in instancePath.
      const badKey = (e as ErrorObject & { propertyName?: string }).propertyName;
      if (badKey === undefined) {
        return {
          severity: 'error',
          code: 'bad-value',
          keyPath,
          message: `'${keyPath}' has an invalid format (it must match ${(e.params as any).pattern}).`,
          range: valueRange(doc, segments, lc),
        };
      }
      return {
        severity: 'error',
        code: 'bad-key',
        keyPath: dotted([...segments, badKey]),
        message: `'${badKey}' in '${keyPath}' must be a layer index (a non-negative integer).`,
        range: keyRange(doc, [...segments, badKey], lc),
        data: { key: badKey },
      };
    }
    default:
      return {
        severity: 'error',
        code: 'schema',
        keyPath,
        message: `'${name}' ${e.message ?? 'is invalid'}.`,
        range: valueRange(doc, segments, lc),
      };
  }
}
