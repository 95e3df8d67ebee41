// `sae-diff doctor` / "SAE Diff: Check GPU": real probes on this machine (CPU must load; an unknown
// provider reports ONNX Runtime's reason), and the advice for machines described by an injected environment.
import assert from 'node:assert/strict';
import Module from 'node:module';
import { describe, test } from 'node:test';
import type { ExecutionProviderName } from '../src/engine/config/types';
import { probeKernelsInChild } from '../src/engine/pipeline/kernelProbe';
import { fixtureConfig, writeConfig } from './helpers/cli';
import { scratchDir } from './helpers/paths';
import { DoctorEnv, type GraphProbe, realDoctorEnv, runDoctor } from '../src/engine/runtime/doctor';
import { formatDoctor } from '../src/engine/runtime/doctorText';
import { parsePlacements } from '../src/engine/runtime/nodePlacement';
import { probeInChild } from '../src/engine/runtime/probeProvider';
import { CUDA_INSTALL_COMMAND, WEBGPU_WITHOUT_GPU } from '../src/engine/runtime/providers';
import { WEBGPU_APT_COMMAND } from '../src/engine/runtime/systemLibraries';

function linuxBox(opts: {
  loads: ExecutionProviderName[];
  cuda?: boolean;
  libs?: string[];
  gpu?: boolean;
  webgpuError?: string;
  variables?: Record<string, string>;
}): DoctorEnv & { probed: string[] } {
  const probed: string[] = [];
  return {
    platform: 'linux',
    arch: 'x64',
    ortVersion: '1.30.0',
    probed,
    backends: [
      { name: 'cpu', bundled: true },
      { name: 'webgpu', bundled: true },
      { name: 'cuda', bundled: false },
      { name: 'tensorrt', bundled: false },
    ],
    async probe(p) {
      probed.push(p);
      if (opts.loads.includes(p)) return { loads: true };
      return {
        loads: false,
        error: p === 'webgpu' ? (opts.webgpuError ?? 'Failed to get a WebGPU adapter: No supported adapters') : `${p} failed`,
      };
    },
    cudaBinariesInstalled: opts.cuda ?? false,
    installRoot: '/opt/app',
    gpuDevicePresent: opts.gpu ?? true,
    findLibrary: (so) => ((opts.libs ?? []).includes(so) ? `/usr/lib/x86_64-linux-gnu/${so}` : undefined),
    vulkanIcds: [],
    variables: opts.variables ?? {},
  };
}

describe('doctor on this machine', () => {
  test("the CPU provider loads, and the report names auto's choice", async () => {
    const r = await runDoctor(realDoctorEnv());
    const cpu = r.providers.find((p) => p.provider === 'cpu')!;
    assert.equal(cpu.loads, true, cpu.reason);
    for (const p of r.providers.filter((s) => !s.loads)) assert.ok(p.reason && p.reason.length > 0, `${p.provider} gives no reason`);
    const text = formatDoctor(r);
    assert.match(text, /OK {3}cpu/);
    assert.match(text, new RegExp(`auto picks: ${r.auto.provider}`));
  });

  test("the SAE graphs and a config's base model in a child process on the CPU provider: the graphs and the model's activations agree with the CPU, and ONNX Runtime reports all their nodes there", async () => {
    const config = writeConfig(scratchDir('doctor'), 'doctor.sae-diff.yaml', fixtureConfig());
    const probe = await probeKernelsInChild('cpu', config);
    assert.equal(probe.error, undefined);
    assert.deepEqual(
      probe.graphs.map((g) => [g.what, g.kind ?? 'sae']),
      [
        ['standard SAE, dense path', 'sae'],
        ['jumprelu SAE, dense path', 'sae'],
        ['topk SAE, dense path', 'sae'],
        ['gated SAE, dense path', 'sae'],
        ['standard SAE, sparse path', 'sae'],
        ['the base model of the config, hooked', 'model'],
      ],
    );
    // every graph's placements, to tell a missing log from one that landed in the next graph's section (seen once in CI)
    const placements = JSON.stringify(probe.graphs.map((g) => [g.what, g.placement.map((p) => `${p.provider}: ${p.nodes}`)]));
    for (const g of probe.graphs) {
      assert.deepEqual(g.differences, [], g.what);
      assert.equal(g.placement.length, 1, `${g.what}: ${placements}`);
      assert.equal(g.placement[0].provider, 'CPUExecutionProvider');
      assert.ok(g.placement[0].nodes > 40, `${g.what}: ${g.placement[0].nodes} nodes`);
    }
    // the topk SAE adds its encoder's TopK and ScatterElements to the dense graph
    assert.ok(probe.graphs[2].placement[0].nodes > probe.graphs[0].placement[0].nodes);
    // the fixture model, cut after its last hooked layer, and the same activations as on the CPU
    assert.ok(probe.graphs[5].placement[0].nodes > 200, `${probe.graphs[5].placement[0].nodes} model nodes`);
    assert.equal(probe.graphs[5].note, "hooked activations against the CPU's: smallest cosine 1.000000 over 6 layers x 32 tokens");
  });

  test("a provider this build lacks fails in the child process with ONNX Runtime's own reason", async () => {
    const r = await probeInChild('no-such-provider');
    assert.equal(r.loads, false);
    assert.match(r.error ?? '', /no-such-provider/);
  });
});

describe('doctor advice (injected machine)', () => {
  test('Linux without CUDA binaries and without libvulkan: the CUDA command and the apt command', async () => {
    const env = linuxBox({ loads: ['cpu'], libs: ['libGLdispatch.so.0', 'libEGL.so.1'] });
    const r = await runDoctor(env);
    assert.equal(r.auto.provider, 'cpu');
    assert.ok(!env.probed.includes('cuda'), 'cuda without binaries is not probed');
    const cuda = r.providers.find((p) => p.provider === 'cuda')!;
    assert.match(cuda.reason!, /not installed/);
    assert.ok(r.advice.some((a) => a.includes(`cd "/opt/app" && ${CUDA_INSTALL_COMMAND}`)));
    const webgpu = r.advice.find((a) => a.startsWith('WebGPU: missing'))!;
    assert.match(webgpu, /libvulkan\.so\.1 \(libvulkan1\)/);
    assert.doesNotMatch(webgpu, /libEGL\.so\.1 \(/);
    assert.ok(webgpu.endsWith(WEBGPU_APT_COMMAND));
    assert.match(formatDoctor(r), /MISSING libvulkan\.so\.1 \(libvulkan1\)/);
  });

  test('WebGPU that loads without a GPU device (lavapipe): auto keeps the CPU, the advice says WebGPU would run on the CPU, its kernels are not checked', async () => {
    const checked: string[] = [];
    const kernels = async (p: ExecutionProviderName) => (checked.push(p), { graphs: [], seconds: 0 });
    const r = await runDoctor({ ...linuxBox({ loads: ['cpu', 'webgpu'], gpu: false }), kernels });
    assert.equal(r.providers.find((p) => p.provider === 'webgpu')!.loads, true);
    assert.equal(r.auto.provider, 'cpu');
    assert.ok(r.advice.some((a) => a.startsWith(WEBGPU_WITHOUT_GPU) && a.endsWith('a run on it checks them at its start.')));
    assert.deepEqual(checked, [], 'no kernel check on a software device (minutes on lavapipe)');
    await runDoctor({ ...linuxBox({ loads: ['cpu', 'webgpu'] }), kernels });
    assert.deepEqual(checked, ['webgpu'], 'with a GPU device the kernels are checked');
    assert.ok(!r.advice.some((a) => a.startsWith('WebGPU: ')), 'no advice on making WebGPU load where it loads');
  });

  test('CUDA binaries that load: auto picks cuda, and the CUDA libraries are listed', async () => {
    const r = await runDoctor(linuxBox({ loads: ['cpu', 'cuda', 'webgpu'], cuda: true, libs: ['libcudart.so.12'] }));
    assert.equal(r.auto.provider, 'cuda');
    assert.deepEqual(
      r.cuda.libraries!.filter((l) => l.path).map((l) => l.soname),
      ['libcudart.so.12'],
    );
    assert.ok(!r.advice.some((a) => a.startsWith('CUDA')));
  });

  test('CUDA binaries that do not load: the missing CUDA libraries are named', async () => {
    const r = await runDoctor(linuxBox({ loads: ['cpu'], cuda: true, libs: ['libcudart.so.12'] }));
    const a = r.advice.find((x) => x.startsWith('CUDA'))!;
    assert.match(a, /missing: libcublas\.so\.12, libcublasLt\.so\.12, libcudnn\.so\.9/);
  });

  test('libraries present but no adapter: points at the Vulkan driver manifest', async () => {
    const all = ['libvulkan.so.1', 'libGLdispatch.so.0', 'libEGL.so.1', 'libGL.so.1', 'libGLX.so.0', 'libOpenGL.so.0', 'libGLESv2.so.2'];
    const r = await runDoctor(linuxBox({ loads: ['cpu'], libs: all }));
    assert.ok(r.advice.some((a) => a.includes('VK_DRIVER_FILES')));
    assert.ok(!r.advice.some((a) => a.includes('apt-get')));
    assert.match(r.providers.find((p) => p.provider === 'webgpu')!.reason!, /No supported adapters/);
  });

  test('WebGPU that loads is what auto picks without CUDA', async () => {
    const r = await runDoctor(linuxBox({ loads: ['cpu', 'webgpu'] }));
    assert.equal(r.auto.provider, 'webgpu');
    assert.ok(!r.advice.some((a) => a.startsWith('WebGPU')));
  });

  test('where WebGPU loads, the doctor states the buffer size runs plan for, and refuses a bad SAE_DIFF_MAX_BUFFER_MB as advice', async () => {
    const text = formatDoctor(await runDoctor(linuxBox({ loads: ['cpu', 'webgpu'] })));
    assert.match(
      text,
      /WebGPU buffers: runs plan for at most 1024 MiB per tensor \(webgpu: 1 GiB planned per buffer\); on an adapter that allows less, set SAE_DIFF_MAX_BUFFER_MB/,
    );
    const set = await runDoctor(linuxBox({ loads: ['cpu', 'webgpu'], variables: { SAE_DIFF_MAX_BUFFER_MB: '256' } }));
    assert.match(formatDoctor(set), /at most 256 MiB per tensor \(SAE_DIFF_MAX_BUFFER_MB=256\)/);
    const bad = await runDoctor(linuxBox({ loads: ['cpu', 'webgpu'], variables: { SAE_DIFF_MAX_BUFFER_MB: 'lots' } }));
    assert.equal(bad.webgpuBufferLimit, undefined);
    assert.ok(
      bad.advice.some((a) => a.startsWith('SAE_DIFF_MAX_BUFFER_MB=lots is not a buffer size')),
      bad.advice.join('\n'),
    );
    assert.doesNotMatch(formatDoctor(await runDoctor(linuxBox({ loads: ['cpu'] }))), /WebGPU buffers/, 'nothing to say without WebGPU');
  });
});

/**
 * ONNX Runtime 1.30's placement log on a GPU provider, in the format of session_state.cc's
 * VerifyEachNodeIsAssignedToAnEp (severity letter, source line, then the message; warnings in colour).
 */
const GPU_PLACEMENT_LOG = [
  '2026-11-28 04:38:03.049 [I:onnxruntime:, webgpu_execution_provider.cc:880 GetCapability] webgpu kernel not found in registries for Op type: NonZero node name: NonZero_12',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1377 VerifyEachNodeIsAssignedToAnEp] Node placements',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1382 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 5',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   MatMul (MatMul_3)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   Relu (Relu_4)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   MemcpyFromHost (Memcpy)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   MemcpyToHost (Memcpy_token_1)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   ReduceSum (ReduceSum_9)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1382 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 3',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   NonZero (NonZero_12)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   Shape (Shape_1)',
  '2026-11-28 04:38:03.049 [V:onnxruntime:, session_state.cc:1384 VerifyEachNodeIsAssignedToAnEp]   Shape (Shape_2)',
  '\u001b[0;93m2026-11-28 04:38:03.049 [W:onnxruntime:, session_state.cc:1394 VerifyEachNodeIsAssignedToAnEp] Some nodes were not assigned to the preferred execution providers which may or may not have an negative impact on performance. e.g. ORT explicitly assigns shape related ops to CPU to improve perf.\u001b[m',
  // a control-flow subgraph's own block
  '2026-11-28 04:38:03.050 [V:onnxruntime:, session_state.cc:1377 VerifyEachNodeIsAssignedToAnEp] Node placements',
  '2026-11-28 04:38:03.050 [V:onnxruntime:, session_state.cc:1380 VerifyEachNodeIsAssignedToAnEp]  All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 7',
].join('\n');

test("ONNX Runtime's placement log: nodes and operators per provider, summed over a graph's blocks", () => {
  assert.deepEqual(parsePlacements(GPU_PLACEMENT_LOG), [
    { provider: 'WebGpuExecutionProvider', nodes: 12, ops: { MatMul: 1, Relu: 1, MemcpyFromHost: 1, MemcpyToHost: 1, ReduceSum: 1 } },
    { provider: 'CPUExecutionProvider', nodes: 3, ops: { NonZero: 1, Shape: 2 } },
  ]);
  assert.deepEqual(parsePlacements('no placements here\n'), []);
});

describe('doctor: SAE graphs on a GPU provider (injected probe)', () => {
  const probe = (graphs: GraphProbe[]): Pick<DoctorEnv, 'kernels'> & { asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      kernels: async (p) => {
        asked.push(p);
        return { graphs, seconds: 4.2 };
      },
    };
  };
  const placement = parsePlacements(GPU_PLACEMENT_LOG);

  test('each GPU provider that loads is probed; the report lists each graph, where its nodes ran and the copies', async () => {
    const k = probe([{ what: 'standard SAE, dense path', differences: [], placement }]);
    const r = await runDoctor({ ...linuxBox({ loads: ['cpu', 'webgpu'] }), ...k });
    assert.deepEqual(k.asked, ['webgpu']);
    const text = formatDoctor(r);
    assert.match(
      text,
      /Graphs on webgpu, against the CPU \(4\.2 s\):\n {2}agrees {2}standard SAE, dense path: 12 nodes on WebGpuExecutionProvider, 3 on CPUExecutionProvider \(NonZero, Shape 2\); 2 copies between host and device\n/,
    );
    // NonZero is work on [tokens x width] data; Shape is ONNX Runtime's own choice for shape arithmetic
    assert.ok(
      r.advice.some((a) => /^webgpu: ONNX Runtime runs NonZero of the SAE graphs on the CPU/.test(a)),
      r.advice.join('\n'),
    );
  });

  test('kernels that disagree are reported with what differed, and the advice says runs will not use them', async () => {
    const k = probe([
      { what: 'topk SAE, dense path', differences: ['firing count (base): 1 of 2304 differ (feature 17: 203 vs 204)'], placement: [] },
    ]);
    const r = await runDoctor({ ...linuxBox({ loads: ['cpu', 'webgpu'] }), ...k });
    const text = formatDoctor(r);
    assert.match(
      text,
      /DIFFERS topk SAE, dense path: placement not logged\n {10}firing count \(base\): 1 of 2304 differ \(feature 17: 203 vs 204\)/,
    );
    assert.ok(r.advice.some((a) => /^webgpu: its SAE kernels give different numbers from the CPU's; runs fall back to the CPU/.test(a)));
  });

  test("the user's model: its smallest cosine against the CPU, why it failed when it did, and advice for its heavy operators on the CPU", async () => {
    const note = "hooked activations against the CPU's: smallest cosine 0.999991 over 3 layers x 32 tokens";
    const k = probe([
      { what: 'the base model of the config, hooked', differences: [], placement, kind: 'model', note },
      { what: 'the base model of the config, hooked', differences: ['it did not run: no kernel'], placement: [], kind: 'model' },
    ]);
    const r = await runDoctor({ ...linuxBox({ loads: ['cpu', 'webgpu'] }), ...k });
    const text = formatDoctor(r);
    assert.match(
      text,
      /\n {2}agrees {2}the base model of the config, hooked: 12 nodes on WebGpuExecutionProvider[^\n]*\n {10}hooked activations against the CPU's: smallest cosine 0\.999991/,
    );
    assert.match(text, /\n {2}DIFFERS the base model of the config, hooked: placement not logged\n {10}it did not run: no kernel/);
    assert.ok(
      r.advice.includes('webgpu: the base model of the config, hooked: it did not run: no kernel. Run this model with --provider cpu.'),
    );
    assert.ok(
      r.advice.some((a) => /^webgpu: ONNX Runtime runs NonZero of the model on the CPU/.test(a)),
      r.advice.join('\n'),
    );
    assert.ok(!r.advice.some((a) => /SAE kernels give different numbers/.test(a)), "the model's failure is not the SAE kernels'");
  });

  test('a CPU-only machine is not probed', async () => {
    const k = probe([]);
    const r = await runDoctor({ ...linuxBox({ loads: ['cpu'] }), ...k });
    assert.deepEqual(k.asked, []);
    assert.equal(r.kernels, undefined);
  });
});

describe('"SAE Diff: Check GPU" command', () => {
  test('shows the doctor text in an output channel', async () => {
    const commands: Record<string, () => Promise<void>> = {};
    let written = '';
    let shown = false;
    const vscodeStub = {
      ProgressLocation: { Notification: 15 },
      commands: {
        registerCommand: (id: string, f: () => Promise<void>) => {
          commands[id] = f;
          return { dispose() {} };
        },
      },
      window: {
        createOutputChannel: () => ({
          clear: () => (written = ''),
          append: (t: string) => (written += t),
          show: () => (shown = true),
          dispose() {},
        }),
        withProgress: (_o: unknown, task: () => Promise<string>) => task(),
      },
    };
    const resolve = (Module as any)._resolveFilename;
    (Module as any)._resolveFilename = function (request: string, ...rest: unknown[]) {
      return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
    };
    require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeStub } as any;
    const { registerCheckGpu } = require('../src/extension/doctor/checkGpuCommand');
    const context = { subscriptions: [] as unknown[] };
    registerCheckGpu(context);
    await commands['saeDiff.checkGpu']();
    assert.ok(shown);
    assert.match(written, /^SAE Diff doctor/);
    assert.match(written, /OK {3}cpu/);
  });
});
