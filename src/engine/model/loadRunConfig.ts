import { loadConfigFile } from '../config/load';
import type { ResolvedConfig } from '../config/types';
import { resolveHubModelFolder, resolveSaePath } from './hfCache';

/** The config a run loads: the strict loader, with Hugging Face ids (models, SAE folders) found in the local hub cache. */
export function loadRunConfig(configPath: string): ResolvedConfig {
  return loadConfigFile(configPath, {
    hubModelFolder: (id) => resolveHubModelFolder(id),
    saeFolder: (value, configDir) => resolveSaePath(value, configDir).folder,
  });
}
