// Execution provider selection for each platform and availability, with a fake machine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ExecutionProviderName } from '../src/engine/config/types';
import { SaeDiffError } from '../src/engine/core/errors';
import {
  CUDA_INSTALL_COMMAND,
  CUDA_INSTALL_HINT,
  fullFloat32OnCuda,
  ProviderEnvironment,
  selectProvider,
  WEBGPU_WITHOUT_GPU,
} from '../src/engine/runtime/providers';
import { probeEnvironment } from '../src/engine/runtime/session';

function machine(
  platform: NodeJS.Platform,
  loads: ExecutionProviderName[],
  opts: { cuda?: boolean; arch?: string; gpu?: boolean; nvidia?: boolean } = {},
): ProviderEnvironment & { probed: ExecutionProviderName[] } {
  const probed: ExecutionProviderName[] = [];
  return {
    platform,
    arch: opts.arch ?? 'x64',
    cudaBinariesInstalled: opts.cuda ?? false,
    gpuDevicePresent: opts.gpu ?? true,
    nvidiaGpuPresent: opts.nvidia,
    probed,
    async canLoad(p) {
      probed.push(p);
      return loads.includes(p);
    },
  };
}

describe('selectProvider: auto', () => {
  test('linux with CUDA binaries that load picks cuda', async () => {
    const c = await selectProvider('auto', machine('linux', ['cuda', 'cpu'], { cuda: true }), false);
    assert.equal(c.provider, 'cuda');
    assert.equal(c.reason, 'auto picked cuda');
  });

  test('linux without CUDA binaries picks cpu and says how to install them, without probing cuda', async () => {
    const env = machine('linux', ['cpu']);
    const c = await selectProvider('auto', env, false);
    assert.equal(c.provider, 'cpu');
    assert.ok(c.reason.includes(CUDA_INSTALL_HINT));
    assert.ok(!env.probed.includes('cuda'));
  });

  test('linux without an NVIDIA GPU says so instead of how to install CUDA; with one, how to install it', async () => {
    const none = await selectProvider('auto', machine('linux', ['cpu'], { nvidia: false, gpu: false }), false);
    assert.equal(none.reason, 'auto picked cpu (cuda: no NVIDIA GPU found; webgpu: no GPU device found)');
    const nvidia = await selectProvider('auto', machine('linux', ['cpu'], { nvidia: true }), false);
    assert.equal(nvidia.provider, 'cpu');
    assert.ok(nvidia.reason.includes(CUDA_INSTALL_HINT));
  });

  test('linux with CUDA binaries that fail to load (no driver) falls through to cpu', async () => {
    const c = await selectProvider('auto', machine('linux', ['cpu'], { cuda: true }), false);
    assert.equal(c.provider, 'cpu');
    assert.match(c.reason, /cuda: failed to load/);
  });

  test('linux arm64 never tries cuda', async () => {
    const env = machine('linux', ['cuda', 'cpu'], { cuda: true, arch: 'arm64' });
    assert.equal((await selectProvider('auto', env, false)).provider, 'cpu');
    assert.ok(!env.probed.includes('cuda'));
  });

  test('win32 picks dml', async () => {
    assert.equal((await selectProvider('auto', machine('win32', ['dml', 'webgpu', 'cpu']), false)).provider, 'dml');
  });

  test('darwin picks coreml', async () => {
    assert.equal((await selectProvider('auto', machine('darwin', ['coreml', 'webgpu', 'cpu']), false)).provider, 'coreml');
  });

  test('webgpu is picked where it loads and nothing better does', async () => {
    assert.equal((await selectProvider('auto', machine('linux', ['webgpu', 'cpu']), false)).provider, 'webgpu');
  });

  test('webgpu that does not load leaves cpu', async () => {
    const c = await selectProvider('auto', machine('linux', ['cpu']), false);
    assert.equal(c.provider, 'cpu');
    assert.match(c.reason, /webgpu: failed to load/);
  });

  test('without a GPU device auto does not try webgpu', async () => {
    const env = machine('linux', ['webgpu', 'cpu'], { gpu: false });
    const c = await selectProvider('auto', env, false);
    assert.equal(c.provider, 'cpu');
    assert.match(c.reason, /webgpu: no GPU device found/);
    assert.ok(!env.probed.includes('webgpu'));
  });

  test('webgpu requested where it loads without a GPU device (lavapipe): it runs, with a warning that it is on the CPU', async () => {
    const c = await selectProvider('webgpu', machine('linux', ['webgpu', 'cpu'], { gpu: false }), false);
    assert.equal(c.provider, 'webgpu');
    assert.deepEqual(c.warnings, [WEBGPU_WITHOUT_GPU]);
    assert.deepEqual((await selectProvider('webgpu', machine('linux', ['webgpu', 'cpu']), false)).warnings, []);
  });

  test('darwin whose coreml fails to load tries webgpu next', async () => {
    assert.equal((await selectProvider('auto', machine('darwin', ['webgpu', 'cpu']), false)).provider, 'webgpu');
  });
});

describe('selectProvider: auto on this machine, only the GPU mocked', () => {
  // the real probe (platform, binaries, session creation) for everything but CUDA, whose loading is injected
  const withCuda = (loads: boolean): ProviderEnvironment & { probed: ExecutionProviderName[] } => {
    const real = probeEnvironment();
    const probed: ExecutionProviderName[] = [];
    return {
      ...real,
      platform: 'linux',
      arch: 'x64',
      cudaBinariesInstalled: true,
      probed,
      canLoad: async (p) => {
        probed.push(p);
        return p === 'cuda' ? loads : real.canLoad(p);
      },
    };
  };

  test('CUDA that loads is picked first, before WebGPU is even tried', async () => {
    const env = withCuda(true);
    const c = await selectProvider('auto', env, false);
    assert.equal(c.provider, 'cuda');
    assert.deepEqual(env.probed, ['cuda']);
  });

  test('CUDA that does not load: auto falls through to what really loads here', async () => {
    const env = withCuda(false);
    const c = await selectProvider('auto', env, false);
    assert.notEqual(c.provider, 'cuda');
    assert.match(c.reason, /cuda: failed to load/);
    if (c.provider !== 'cpu') assert.equal(await probeEnvironment().canLoad(c.provider), true);
  });

  test('Windows with CUDA binaries that load: cuda before DirectML', async () => {
    assert.equal(
      (await selectProvider('auto', machine('win32', ['cuda', 'dml', 'webgpu', 'cpu'], { cuda: true }), false)).provider,
      'cuda',
    );
  });

  test('the install hint carries the one install command', () => {
    assert.ok(CUDA_INSTALL_HINT.includes(CUDA_INSTALL_COMMAND));
    assert.match(CUDA_INSTALL_COMMAND, /^npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12$/);
  });
});

describe('selectProvider: explicit request', () => {
  test('cpu is always available and never probed', async () => {
    const env = machine('linux', []);
    assert.equal((await selectProvider('cpu', env, false)).provider, 'cpu');
    assert.deepEqual(env.probed, []);
  });

  test('an available request is used', async () => {
    assert.equal((await selectProvider('cuda', machine('linux', ['cuda'], { cuda: true }), false)).provider, 'cuda');
    assert.equal((await selectProvider('webgpu', machine('win32', ['webgpu']), false)).provider, 'webgpu');
  });

  test('cuda without binaries and without fallback fails with the install hint', async () => {
    await assert.rejects(selectProvider('cuda', machine('linux', ['cpu']), false), (e: unknown) => {
      assert.ok(e instanceof SaeDiffError);
      assert.ok(e.message.includes(CUDA_INSTALL_HINT));
      assert.equal(e.location?.key, 'runtime.execution_provider');
      assert.match(e.hint ?? '', /--provider cpu/);
      return true;
    });
  });

  test('cuda without binaries with fallback runs on cpu with a warning', async () => {
    const c = await selectProvider('cuda', machine('linux', ['cpu']), true);
    assert.equal(c.provider, 'cpu');
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0], /falling back to cpu/);
  });

  test('dml off Windows and coreml off macOS are unavailable', async () => {
    await assert.rejects(selectProvider('dml', machine('linux', ['dml']), false), /dml runs only on win32/);
    await assert.rejects(selectProvider('coreml', machine('win32', ['coreml']), false), /coreml runs only on darwin/);
    assert.equal((await selectProvider('coreml', machine('linux', []), true)).provider, 'cpu');
  });

  test('cuda on macOS is unavailable', async () => {
    await assert.rejects(selectProvider('cuda', machine('darwin', ['cuda'], { cuda: true }), false), /cuda runs only on Linux and Windows/);
  });

  test('a request that fails to load: error without fallback, cpu with it', async () => {
    await assert.rejects(selectProvider('webgpu', machine('linux', ['cpu']), false), /webgpu failed to load on this machine/);
    const c = await selectProvider('webgpu', machine('linux', ['cpu']), true);
    assert.equal(c.provider, 'cpu');
    assert.match(c.reason, /fallback from webgpu/);
  });
});

test('CUDA sessions run in full float32: NVIDIA_TF32_OVERRIDE=0 unless the user set it; other providers leave the environment alone', () => {
  const unset: Record<string, string | undefined> = {};
  fullFloat32OnCuda('cuda', unset);
  assert.equal(unset.NVIDIA_TF32_OVERRIDE, '0');
  const chosen: Record<string, string | undefined> = { NVIDIA_TF32_OVERRIDE: '1' };
  fullFloat32OnCuda('cuda', chosen);
  assert.equal(chosen.NVIDIA_TF32_OVERRIDE, '1');
  for (const p of ['cpu', 'webgpu', 'dml', 'coreml']) {
    const env: Record<string, string | undefined> = {};
    fullFloat32OnCuda(p, env);
    assert.deepEqual(env, {}, p);
  }
});
