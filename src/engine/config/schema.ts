/**
 * The engine's one walker over the config schema (src/shared/sae-diff.schema.json, the single definition of
 * every default, allowed value and description). The validator, the loader, hovers and completions all ask it.
 */
import { configSchema, sectionDefaults } from '../../shared/configDefaults';
import type { ChatTemplateFrom, PrependBos, ProviderRequest, SaeFormat } from '../../shared/configTypes';

/** A path into the config document: keys and sequence indices. */
export type Segments = (string | number)[];

export { configSchema, sectionDefaults };

type Schema = Record<string, any>;

/** The schema at a JSON pointer (`#/definitions/modelPath`, or an ajv schemaPath's parent). */
export function schemaAtPointer(pointer: string): Schema | undefined {
  let s: any = configSchema;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (s === undefined) return undefined;
    s = s[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return s;
}

/** A schema with its `$ref` followed (repeatedly). */
export function resolveRef(s: Schema | undefined): Schema | undefined {
  return s?.$ref ? resolveRef(schemaAtPointer(String(s.$ref))) : s;
}

/** The schema itself and, for oneOf, each of its alternatives (refs resolved). */
export function alternatives(s: Schema | undefined): Schema[] {
  const r = resolveRef(s);
  if (!r) return [];
  return r.oneOf ? [r, ...r.oneOf.map(resolveRef).filter(Boolean)] : [r];
}

/** The schema of the value at a YAML path (numbers index sequences), as written under its key. */
export function schemaAtPath(segments: Segments): Schema | undefined {
  let s: Schema | undefined = configSchema;
  for (const seg of segments) {
    let next: Schema | undefined;
    for (const alt of alternatives(s)) {
      if (typeof seg === 'number') next = alt.items;
      else next = alt.properties?.[seg] ?? (typeof alt.additionalProperties === 'object' ? alt.additionalProperties : undefined);
      if (next) break;
    }
    if (!next) return undefined;
    s = next;
  }
  return s;
}

/** A setting's schema by its dotted key under diagnostic_pipeline, e.g. `sae.k`. */
function setting(key: string): Schema {
  const s = schemaAtPath(['diagnostic_pipeline', ...key.split('.')]);
  if (!s) throw new Error(`The config schema has no key ${key}`); // a programming error, caught by the tests
  return s;
}

/** The default the schema declares for a dotted key under diagnostic_pipeline. */
export function schemaDefault<T>(key: string): T {
  return setting(key).default as T;
}

/** The allowed values the schema declares for a dotted key under diagnostic_pipeline. */
export function schemaEnum<T extends string>(key: string): readonly T[] {
  return setting(key).enum as T[];
}

export const SAE_FORMATS_ALLOWED = schemaEnum<SaeFormat>('sae.format');
export const PROVIDER_REQUESTS = schemaEnum<ProviderRequest>('runtime.execution_provider');
/** The execution providers proper (every allowed value but `auto`). */
export const EXECUTION_PROVIDERS = PROVIDER_REQUESTS.filter((p): p is Exclude<ProviderRequest, 'auto'> => p !== 'auto');
export const CHAT_TEMPLATE_SOURCES = schemaEnum<ChatTemplateFrom>('dataset.chat_template_from');
export const PREPEND_BOS = schemaEnum<PrependBos>('dataset.prepend_bos');
