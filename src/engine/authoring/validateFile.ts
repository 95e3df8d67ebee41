import * as path from 'path';
import type { ConfigDiagnostic } from '../config/configDiagnostic';
import { parseAndCheckConfigText, ParsedConfigText } from '../config/diagnostics';
import { invalidateFileCache } from './fileCache';
import { decodeUtf8, READ_CAPS, readFileBoundedAsync } from '../io/boundedRead';
import { semanticDiagnostics, SemanticOptions } from './semantic';

export interface ValidateOptions extends SemanticOptions {
  /** Run the checks against referenced files (default true). */
  semantic?: boolean;
}

export interface ConfigValidation {
  parsed: ParsedConfigText;
  /** Syntax, schema and semantic diagnostics, in document order. */
  diagnostics: ConfigDiagnostic[];
  /** Absolute files and folders the semantic checks read (watch them). */
  referencedPaths: string[];
}

/** Syntax + schema + semantic checks of config text; semantic checks are skipped on YAML syntax errors. */
export function validateConfigText(text: string, configPath: string, options: ValidateOptions = {}): ConfigValidation {
  const parsed = parseAndCheckConfigText(text);
  const diagnostics = [...parsed.diagnostics];
  let referencedPaths: string[] = [];
  const syntaxBroken = parsed.diagnostics.some((d) => d.code === 'yaml-syntax');
  if (options.semantic !== false && !syntaxBroken) {
    const semantic = semanticDiagnostics(parsed.doc, parsed.lineCounter, path.resolve(configPath), options);
    diagnostics.push(...semantic.diagnostics);
    referencedPaths = semantic.referencedPaths;
  }
  diagnostics.sort(byPosition);
  return { parsed, diagnostics, referencedPaths };
}

/**
 * Validates a config file: `validateConfigFile(path)` reads it; `validateConfigFile(text, path)`
 * checks unsaved text as if it were at `path` (relative paths resolve against its folder).
 */
export async function validateConfigFile(
  pathOrText: string,
  configPath?: string,
  options: ValidateOptions = {},
): Promise<ConfigDiagnostic[]> {
  const file = configPath ?? pathOrText;
  let text: string;
  if (configPath !== undefined) text = pathOrText;
  else {
    try {
      text = decodeUtf8(file, await readFileBoundedAsync(file, READ_CAPS.yaml));
    } catch (e) {
      return [
        {
          severity: 'error',
          code: 'unreadable',
          keyPath: '',
          message: `Cannot read the config file: ${(e as Error).message.replace(/^Cannot read .*?: (?=E[A-Z]+:)/, '')}`,
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        },
      ];
    }
  }
  return validateConfigText(text, file, options).diagnostics;
}

/** Forgets cached file facts for a changed file or folder (or all): the next validation re-reads it. */
export function invalidateSemanticCache(changedPath?: string): void {
  invalidateFileCache(changedPath);
}

function byPosition(a: ConfigDiagnostic, b: ConfigDiagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character;
}
