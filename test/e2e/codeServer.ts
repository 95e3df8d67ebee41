/**
 * A real VS Code for the e2e suite: code-server 4.100.3 (VS Code 1.100.3) installed by
 * scripts/e2e-install.sh, with the extension installed from the VSIX `npm run package` builds for this
 * platform (vsix/sae-diff-<target>-<version>.vsix), as a user installs it.
 * Helpers only: no side effects on import (node --test runs every file under out/test/).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../../..');
export const CHROMIUM = '/usr/bin/chromium';

export function codeServerBinary(): string {
  const cache = process.env.SAE_DIFF_E2E_CACHE ?? path.join(os.homedir(), '.cache', 'sae-diff-e2e');
  return path.join(cache, 'code-server', 'node_modules', '.bin', 'code-server');
}

/** The VSIX `npm run package -- --target <this platform>` writes (scripts/package.mjs). */
export function vsixPath(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  return path.join(REPO, 'vsix', `${pkg.name}-${process.platform}-${process.arch}-${pkg.version}.vsix`);
}

/** Why the suite cannot run here, or undefined. */
export function e2eUnavailableReason(): string | undefined {
  if (!fs.existsSync(codeServerBinary())) return `code-server is not installed at ${codeServerBinary()} (scripts/e2e-install.sh)`;
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  if (!fs.existsSync(vsixPath()))
    return `the VSIX is not built: ${vsixPath()} (npm run package -- --target ${process.platform}-${process.arch})`;
  return undefined;
}

/** Installs the VSIX the way the README tells a user to (`--install-extension`); returns the CLI's output. */
export function installExtension(dirs: { ud: string; ext: string }, env: NodeJS.ProcessEnv): string {
  return execFileSync(codeServerBinary(), ['--user-data-dir', dirs.ud, '--extensions-dir', dirs.ext, '--install-extension', vsixPath()], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
}

export interface RunningCodeServer {
  url: (folder: string) => string;
  logFile: string;
  /** Command lines of the processes in code-server's process group (it, its extension host, run workers). */
  processes(): string[];
  stop(): Promise<void>;
}

/** Starts code-server on 127.0.0.1 with its state under `root` (HOME is left alone). */
export async function startCodeServer(root: string, userSettings: Record<string, unknown>): Promise<RunningCodeServer> {
  const dirs = {
    ud: path.join(root, 'ud'),
    ext: path.join(root, 'ext'),
    xdgData: path.join(root, 'xdg-data'),
    xdgConfig: path.join(root, 'xdg-config'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.ud, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.ud, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'update.mode': 'none',
        'workbench.tips.enabled': false,
        // the workspace lives inside this repository's test/.tmp: keep Git's prompt out of the way
        'git.openRepositoryInParentFolders': 'never',
        ...userSettings,
      },
      null,
      1,
    ),
  );
  const env = { ...process.env, XDG_DATA_HOME: dirs.xdgData, XDG_CONFIG_HOME: dirs.xdgConfig };
  const installed = installExtension(dirs, env);
  if (!/successfully installed/i.test(installed)) throw new Error(`installing the VSIX failed: ${installed}`);
  const port = await freePort();
  const config = path.join(root, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const logFile = path.join(root, 'code-server.log');
  const log = fs.openSync(logFile, 'w');
  const child: ChildProcess = spawn(
    codeServerBinary(),
    [
      '--config',
      config,
      '--user-data-dir',
      dirs.ud,
      '--extensions-dir',
      dirs.ext,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
    ],
    { env, stdio: ['ignore', log, log], detached: true },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitForHealth(`${base}/healthz`, child, 30_000);
  return {
    url: (folder) => `${base}/?folder=${encodeURIComponent(folder)}`,
    logFile,
    processes: () => processGroup(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise((r) => child.once('exit', r));
      // the whole group: code-server, its extension host and the extension's run worker
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
      fs.closeSync(log);
    },
  };
}

function processGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after ')'
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === pgid) found.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with code ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`code-server did not answer ${url} within ${timeoutMs} ms`);
}
