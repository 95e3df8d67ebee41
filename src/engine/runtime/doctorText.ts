import { limitMiB, MAX_BUFFER_ENV } from './bufferLimit';
import type { DoctorReport } from './doctor';
import type { ProviderPlacement } from './nodePlacement';

/** The doctor's report as plain text (the CLI prints it; VS Code shows it in an output channel). */
export function formatDoctor(r: DoctorReport): string {
  const lines = ['SAE Diff doctor: what this machine can run', '', `machine: ${r.machine}`, '', 'execution providers:'];
  for (const s of r.providers) {
    lines.push(`  ${s.loads ? 'OK  ' : 'NO  '} ${s.provider}${s.reason ? `: ${s.reason.split('\n')[0]}` : ''}`);
    if (!s.loads && s.nativeLog) for (const l of s.nativeLog.split('\n')) lines.push(`         | ${l}`);
  }
  lines.push('', `auto picks: ${r.auto.provider} (${r.auto.reason})`);
  if (r.webgpuBufferLimit?.bytes !== undefined) {
    lines.push(
      '',
      `WebGPU buffers: runs plan for at most ${limitMiB(r.webgpuBufferLimit.bytes)} MiB per tensor (${r.webgpuBufferLimit.source}); ` +
        `on an adapter that allows less, set ${MAX_BUFFER_ENV}`,
    );
  }
  for (const k of r.kernels ?? []) {
    lines.push('', `Graphs on ${k.provider}, against the CPU (${k.seconds.toFixed(1)} s):`);
    if (k.error) lines.push(`  not checked: ${k.error}`);
    for (const g of k.graphs) {
      lines.push(`  ${g.differences.length ? 'DIFFERS' : 'agrees '} ${g.what}: ${placementText(g.placement)}`);
      if (g.note) lines.push(`          ${g.note}`);
      for (const d of g.differences) lines.push(`          ${d}`);
    }
  }
  if (r.webgpuLibraries) {
    lines.push('', 'WebGPU libraries (Linux: Vulkan loader and glvnd):');
    for (const l of r.webgpuLibraries)
      lines.push(`  ${l.path ? 'found  ' : 'MISSING'} ${l.soname} (${l.pkg})${l.path ? `: ${l.path}` : ''}`);
    lines.push(`  Vulkan driver manifests: ${r.vulkanIcds?.length ? r.vulkanIcds.join(', ') : 'none found'}`);
  }
  lines.push('', `CUDA binaries of onnxruntime-node: ${r.cuda.installed ? 'installed' : 'not installed'}`);
  for (const l of r.cuda.libraries ?? []) lines.push(`  ${l.path ? 'found  ' : 'MISSING'} ${l.soname}${l.path ? `: ${l.path}` : ''}`);
  if (r.advice.length) lines.push('', 'advice:', ...r.advice.map((a) => `  - ${a}`));
  return lines.join('\n') + '\n';
}

/** "212 nodes on WebGpuExecutionProvider, 3 on CPUExecutionProvider (Shape 2, NonZero); 2 copies between host and device". */
function placementText(placement: ProviderPlacement[]): string {
  if (placement.length === 0) return 'placement not logged';
  const copies = placement.reduce((n, p) => n + (p.ops.MemcpyToHost ?? 0) + (p.ops.MemcpyFromHost ?? 0), 0);
  return placement
    .map((p, i) => {
      const ops = Object.entries(p.ops)
        .map(([op, n]) => (n > 1 ? `${op} ${n}` : op))
        .join(', ');
      const onCpu = p.provider === 'CPUExecutionProvider' && placement.length > 1 && ops;
      return `${p.nodes}${i === 0 ? ' nodes' : ''} on ${p.provider}${onCpu ? ` (${ops})` : ''}`;
    })
    .join(', ')
    .concat(copies ? `; ${copies} copies between host and device` : '');
}
