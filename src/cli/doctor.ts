import { probeKernelsInChild } from '../engine/pipeline/kernelProbe';
import { realDoctorEnv, runDoctor } from '../engine/runtime/doctor';
import { formatDoctor } from '../engine/runtime/doctorText';

/** `sae-diff doctor [--json]`: which execution providers load here, why the others do not, and what to install. */
export async function runDoctorCli(json: boolean): Promise<number> {
  const report = await runDoctor(realDoctorEnv(probeKernelsInChild));
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
  return 0;
}
