/** Whether a YAML document is an SAE Diff config: config/configFileRule.ts's rule (by name, else by its first root key). */
export { isConfigFile as isSaeDiffConfigDocument } from '../config/configFileRule';
