import * as fs from 'fs';
import * as path from 'path';
import { probeKernelsInChild } from '../engine/pipeline/kernelProbe';
import { realDoctorEnv, runDoctor } from '../engine/runtime/doctor';
import { formatDoctor } from '../engine/runtime/doctorText';

/**
 * `sae-diff doctor [config.yaml] [--json]`: which execution providers load here, why the others do not, and
 * what to install; on each GPU provider that loads, the SAE graphs against the CPU and, given a config, how
 * its base model runs there.
 */
export async function runDoctorCli(json: boolean, configPath?: string): Promise<number> {
  if (configPath && !fs.existsSync(configPath)) {
    process.stderr.write(`error: config file not found: ${configPath}\n`);
    return 1;
  }
  const report = await runDoctor(realDoctorEnv((p) => probeKernelsInChild(p, configPath && path.resolve(configPath))));
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
  return 0;
}
