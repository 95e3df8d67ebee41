import type { Segments } from '../config/configRefs';
import { alternatives, resolveRef, schemaAtPath } from '../config/schema';

// The schema walk itself is config/schema.ts's (the one walker); this file says what editors show of it.
export { schemaAtPath };

type Schema = Record<string, any>;

/** Keys an object at this path may hold. */
export function allowedKeys(segments: Segments): string[] {
  const keys = new Set<string>();
  for (const alt of alternatives(schemaAtPath(segments))) for (const k of Object.keys(alt.properties ?? {})) keys.add(k);
  return [...keys];
}

export function requiredKeys(segments: Segments): string[] {
  return alternatives(schemaAtPath(segments)).flatMap((a) => a.required ?? []);
}

export interface KeyDoc {
  description?: string;
  default?: unknown;
  enum?: unknown[];
  type: string;
  minimum?: number;
  maximum?: number;
}

/** What the hover and completion say about a key: its description, type, default and range. */
export function keyDoc(segments: Segments): KeyDoc | undefined {
  const own = schemaAtPath(segments);
  if (!own) return undefined;
  const alts = alternatives(own);
  const pick = <T>(f: (a: Schema) => T | undefined): T | undefined => alts.map(f).find((v) => v !== undefined);
  return {
    description: pick((a) => a.description),
    default: pick((a) => a.default),
    enum: pick((a) => a.enum),
    minimum: pick((a) => a.minimum),
    maximum: pick((a) => a.maximum),
    type: typeText(own),
  };
}

function typeText(s: Schema | undefined): string {
  const r = resolveRef(s);
  if (!r) return 'value';
  if (r.oneOf) return r.oneOf.map(typeText).join(' | ');
  if (r.type === 'array') return `list of ${typeText(r.items)}`;
  if (r.type === 'object') return r.properties?.path && r.properties?.name ? '{name, path} mapping' : 'mapping';
  return r.type ?? 'value';
}

/** Markdown documentation of a key, shared by hovers and key completions. */
export function keyDocMarkdown(segments: Segments): string | undefined {
  const doc = keyDoc(segments);
  if (!doc) return undefined;
  const name = String([...segments].reverse().find((s) => typeof s === 'string') ?? '');
  const facts = [`\`${doc.type}\``];
  if (doc.default !== undefined) facts.push(`default \`${JSON.stringify(doc.default)}\``);
  if (doc.minimum !== undefined || doc.maximum !== undefined) facts.push(`range ${doc.minimum ?? '-∞'} … ${doc.maximum ?? '∞'}`);
  if (doc.enum) facts.push(`one of ${doc.enum.map((v) => `\`${v}\``).join(', ')}`);
  return `**${name}** — ${facts.join(', ')}\n\n${doc.description ?? ''}`.trim();
}
