import * as fs from 'fs';
import * as path from 'path';

/**
 * Turns a single SAE folder (e.g. `saes/blocks.3.hook_resid_post`) into a `{layer}` template when
 * the sibling folders follow the pattern for every target layer (`saes/blocks.{layer}.hook_resid_post`).
 * Tries the digit runs from the end; prefers the one equal to `preferred` (the SAE's own hook layer).
 */
export function suggestSaeTemplate(value: string, configDir: string, layers: number[], preferred?: number): string | undefined {
  if (value.includes('{layer}') || layers.length === 0) return undefined;
  const runs = [...value.matchAll(/\d+/g)].reverse();
  if (preferred !== undefined) runs.sort((a, b) => Number(Number(b[0]) === preferred) - Number(Number(a[0]) === preferred));
  for (const run of runs) {
    const template = value.slice(0, run.index!) + '{layer}' + value.slice(run.index! + run[0].length);
    const allExist = layers.every((l) => isDirectory(path.resolve(configDir, template.replace('{layer}', String(l)))));
    if (allExist) return template;
  }
  return undefined;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
