import { SaeDiffError } from './errors';

/**
 * A size in MiB (fractions allowed) from an environment variable, in bytes; undefined when it is unset or
 * empty. A value that is not a number, or gives fewer than `minBytes`, is refused naming the variable and
 * `what` it should be.
 */
export function sizeVariable(
  env: Record<string, string | undefined>,
  name: string,
  minBytes: number,
  what: string,
  hint: string,
): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const mib = Number(raw);
  const bytes = Math.floor(mib * 2 ** 20);
  if (!Number.isFinite(mib) || bytes < minBytes) throw new SaeDiffError(`${name}=${raw} is not ${what}`, { hint });
  return bytes;
}
