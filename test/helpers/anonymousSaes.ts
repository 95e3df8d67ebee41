import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES } from './paths';

/**
 * Copies of the fixture's resid_post SAEs whose cfg.json does not say its hook (no hook_name / hook_layer),
 * as `<dir>/L<layer>`: an SAE that declares resid_post is refused at resid_pre before any run, so the
 * statistical self-check is exercised with SAEs that declare nothing. Returns the `{layer}` path template.
 */
export function anonymousSaes(dir: string, layers: number[]): string {
  const root = path.join(dir, 'anon-saes');
  for (const l of layers) {
    const src = path.join(FIXTURES, 'saes', `blocks.${l}.hook_resid_post`),
      dst = path.join(root, `L${l}`);
    fs.mkdirSync(dst, { recursive: true });
    fs.copyFileSync(path.join(src, 'sae_weights.safetensors'), path.join(dst, 'sae_weights.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'cfg.json'), 'utf8'));
    delete cfg.hook_name;
    delete cfg.hook_layer;
    fs.writeFileSync(path.join(dst, 'cfg.json'), JSON.stringify(cfg));
  }
  return `${root.replace(/\\/g, '/')}/L{layer}`;
}
