import * as fs from 'fs';
import { SaeDiffError } from '../../core/errors';
import { readJson } from '../../model/modelFolder';
import { parseHookName } from '../hookName';

export function refuse(file: string, message: string, hint: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file }, hint });
}

/** A JSON config that must be an object (`null`, a list or a number is refused, naming the file). */
export function readConfigObject(file: string): Record<string, any> {
  if (!fs.statSync(file).isFile()) throw refuse(file, `${file} is not a file`, 'Point sae.path at the SAE folder.');
  const v = readJson(file);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw refuse(
      file,
      `The SAE config is ${v === null ? 'null' : Array.isArray(v) ? 'a list' : `a ${typeof v}`}, not an object of settings`,
      'The file is damaged or not an SAE config; download or save the SAE again.',
    );
  }
  return v as Record<string, any>;
}

export function firstNumber(cfg: Record<string, any> | undefined, keys: string[]): number | undefined {
  for (const k of keys) if (cfg && typeof cfg[k] === 'number' && Number.isFinite(cfg[k])) return cfg[k];
  return undefined;
}

/** The hook layer and point a hook name says, refusing a hook the engine cannot read (naming the field). */
export function hookOf(
  name: string | undefined,
  field: string,
  file: string,
): { layer?: number; point?: ReturnType<typeof parseHookName>['point'] } {
  const h = parseHookName(name);
  if (h.refused)
    throw refuse(
      file,
      `The SAE's hook ${field} '${name}' cannot be hooked: ${h.refused}`,
      'Use an SAE trained on the residual stream (resid_pre, resid_mid, resid_post), on attn_out / mlp_out, or on attn.hook_z.',
    );
  return { layer: h.layer, point: h.point };
}
