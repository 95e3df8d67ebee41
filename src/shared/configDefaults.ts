/**
 * The config schema is the one definition of every setting's default, allowed values and description.
 * It lives in src/shared because the report webview (which may import only src/shared) needs the metric
 * defaults for reports whose run.config lacks a key; the engine reads it through engine/config/schema.ts.
 */
import schemaJson from './sae-diff.schema.json';

type Json = Record<string, any>;

export const configSchema: Json = schemaJson;

/** The schema of one section of diagnostic_pipeline (`metrics`, `runtime`, ...). */
export function sectionSchema(section: string): Json | undefined {
  return configSchema.properties.diagnostic_pipeline.properties[section];
}

/** The defaults a section's keys declare (keys without a default are left out). */
export function sectionDefaults(section: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries<Json>(sectionSchema(section)?.properties ?? {})) if (s.default !== undefined) out[key] = s.default;
  return out;
}
