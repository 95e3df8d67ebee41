/** Whether a YAML document is an SAE Diff config: by file name, else by its root key. */
export function isSaeDiffConfigDocument(fileName: string, text: string): boolean {
  if (/\.sae-diff\.ya?ml$/i.test(fileName)) return true;
  // The first key at column 0 (after comments, blank lines and a `---` marker) decides.
  for (const line of text.split(/\r?\n/, 200)) {
    if (/^\s*(#.*)?$/.test(line) || /^---\s*$/.test(line) || /^%/.test(line)) continue;
    return /^diagnostic_pipeline\s*:/.test(line);
  }
  return false;
}
