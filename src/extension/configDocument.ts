import type * as vscode from 'vscode';
import { isConfigFile } from '../engine/config/configFileRule';

/**
 * The engine's one "is this a config?" rule (config/configFileRule.ts) for an open YAML document. Validation,
 * hovers, completions, quick fixes, the Run CodeLens and the config picker all ask it, so no file gets one
 * without the others.
 */
export function isConfigDocument(doc: vscode.TextDocument): boolean {
  return doc.languageId === 'yaml' && isConfigFile(doc.fileName, doc.getText());
}
