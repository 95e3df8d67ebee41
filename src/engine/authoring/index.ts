/** The config-authoring engine API used by the CLI (`validate`) and the VS Code extension. */
// the one "is this a config?" rule, under the name the CLI and the extension have used
export { isConfigFile as isSaeDiffConfigDocument } from '../config/configFileRule';
export type { ConfigDiagnostic, Severity } from '../config/configDiagnostic';
export type { Position, Range } from '../config/yamlNodes';
export { completionsAt, type ConfigCompletion } from './completion';
export { formatDiagnosticLine } from './formatDiagnostic';
export { hoverAt, type ConfigHover } from './hover';
export { applyEdits, quickFixesFor, type ConfigQuickFix, type TextEdit } from './quickFixes';
export { starterConfigText, STARTER_FILE_NAME, type StarterOptions } from './starter';
export {
  invalidateSemanticCache,
  validateConfigFile,
  validateConfigText,
  type ConfigValidation,
  type ValidateOptions,
} from './validateFile';
