/**
 * The one rule for "is this file an SAE Diff config?", used by validation, the Run CodeLens, the config
 * picker and the commands, so a file never gets one without the others. package.json's yamlValidation,
 * activationEvents and menus repeat the name patterns (JSON cannot import); test/configSingleSource checks them.
 */

/** Name suffixes of configs (matched case-insensitively). */
export const CONFIG_SUFFIXES = ['.sae-diff.yaml', '.sae-diff.yml'] as const;

/** Workspace glob of configs named by suffix. */
export const CONFIG_GLOB = `**/*{${CONFIG_SUFFIXES.join(',')}}`;

/** `*.sae-diff.yaml` / `*.sae-diff.yml`. */
export function isConfigFileName(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return CONFIG_SUFFIXES.some((suffix) => lower.endsWith(suffix));
}

/** A config's name without its suffix (`run.sae-diff.yaml`, `run.yaml` -> `run`), e.g. for the default report name. */
export function configStem(fileName: string): string {
  return fileName.replace(/(\.sae-diff)?\.ya?ml$/i, '');
}

/** Only this many lines are scanned for the first key (a config starts with it). */
const SCANNED_LINES = 200;

/** 0-based line of the root `diagnostic_pipeline:` key when it is the document's first key, else -1. */
export function pipelineRootLine(text: string): number {
  const lines = text.split(/\r?\n/, SCANNED_LINES);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    // comments, blank lines, a `---` document marker and `%` directives come before the first key
    if (/^\s*(#.*)?$/.test(line) || /^---\s*$/.test(line) || /^%/.test(line)) continue;
    return /^diagnostic_pipeline\s*:/.test(line) ? i : -1;
  }
  return -1;
}

/** A config by name, or a YAML file whose first root key is diagnostic_pipeline. */
export function isConfigFile(fileName: string, text: string): boolean {
  return isConfigFileName(fileName) || pipelineRootLine(text) >= 0;
}
