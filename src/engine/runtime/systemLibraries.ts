import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** What WebGPU (Dawn over Vulkan) loads on Linux, and the Debian/Ubuntu package that ships each library. */
export const WEBGPU_LINUX_LIBRARIES: { soname: string; pkg: string }[] = [
  { soname: 'libvulkan.so.1', pkg: 'libvulkan1' },
  { soname: 'libGLdispatch.so.0', pkg: 'libglvnd0' },
  { soname: 'libEGL.so.1', pkg: 'libegl1' },
  { soname: 'libGL.so.1', pkg: 'libgl1' },
  { soname: 'libGLX.so.0', pkg: 'libglx0' },
  { soname: 'libOpenGL.so.0', pkg: 'libopengl0' },
  { soname: 'libGLESv2.so.2', pkg: 'libgles2' },
];

/** What onnxruntime-node's CUDA provider loads (CUDA 12 runtime, cuBLAS, cuDNN 9). */
export const CUDA_LINUX_LIBRARIES = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcudnn.so.9'];

/** The whole WebGPU set, so that one command fixes a machine whatever is missing (seen needed on an H200 host). */
export const WEBGPU_APT_COMMAND = `sudo apt-get install -y ${WEBGPU_LINUX_LIBRARIES.map((l) => l.pkg).join(' ')}`;

const LIB_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
  '/usr/local/cuda/lib64',
  '/usr/local/nvidia/lib64',
];

/** soname -> path, from the dynamic linker's cache (`ldconfig -p`), else by scanning the usual folders and LD_LIBRARY_PATH. */
export function libraryFinder(): (soname: string) => string | undefined {
  const cache = new Map<string, string>();
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    try {
      const out = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      for (const line of out.split('\n')) {
        const m = /^\s*(\S+)\s.*=>\s*(\S+)\s*$/.exec(line);
        if (m && !cache.has(m[1])) cache.set(m[1], m[2]);
      }
      break;
    } catch {
      /* try the next */
    }
  }
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIB_DIRS];
  return (soname) => cache.get(soname) ?? dirs.map((d) => path.join(d, soname)).find((p) => fs.existsSync(p));
}

/** Vulkan ICD manifests (which GPU drivers the loader can see), from the folders the loader searches. */
export function vulkanIcdFiles(): string[] {
  const dirs = [
    ...(process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? '')
      .split(':')
      .filter(Boolean)
      .map((f) => path.dirname(f)),
    '/usr/share/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    '/usr/local/share/vulkan/icd.d',
    '/usr/local/nvidia/share/vulkan/icd.d',
  ];
  const found: string[] = [];
  for (const d of [...new Set(dirs)]) {
    try {
      for (const f of fs.readdirSync(d)) if (f.endsWith('.json')) found.push(path.join(d, f));
    } catch {
      /* absent */
    }
  }
  return found;
}
