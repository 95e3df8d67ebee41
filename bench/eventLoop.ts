/**
 * Measures how long the caller's event loop (the extension host's, in the editor) is blocked while
 * a RunController runs diagnostics on the fixtures. Budget: no stall over 50 ms.
 * For contrast it then runs the engine in-process, which is what the worker process avoids.
 *   npm run bench:eventloop            (add -- --no-contrast to skip the in-process run)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay, PerformanceObserver } from 'perf_hooks';
import { loadRunConfig } from '../src/engine/model/loadRunConfig';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { RunController } from '../src/extension/run/runController';

const BUDGET_MS = 50;
const REPO = path.resolve(__dirname, '../..');
const FIXTURES = path.join(REPO, 'test/fixtures/tiny-llama');
const TMP = path.join(REPO, 'test/.tmp', `bench-eventloop-${process.pid}`);

function writeConfig(dataset: string): string {
  const file = path.join(TMP, `${dataset}.sae-diff.yaml`);
  fs.writeFileSync(
    file,
    [
      'diagnostic_pipeline:',
      '  models:',
      `    base: "${FIXTURES}/base"`,
      `    sft: [{ path: "${FIXTURES}/sft-refusal" }, { path: "${FIXTURES}/sft-domain" }]`,
      `  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }`,
      '  layers: { target_indices: [0, 1, 2, 3, 4, 5] }',
      `  dataset: { path: "${FIXTURES}/eval/${dataset}.jsonl" }`,
      '  runtime: { execution_provider: cpu, batch_size: 8, max_tokens: 64 }',
      `  output: { save_path: "${dataset}.sae-report.json" }`,
    ].join('\n'),
  );
  return file;
}

interface ProbeResult {
  maxMs: number;
  p99Ms: number;
  meanMs: number;
  /** Longest gap between two 5 ms ticks beyond the 5 ms: what a UI timer would feel. */
  driftMaxMs: number;
  /** Most CPU time the main thread (the event loop's) used within one such gap: the part of a stall our own work caused. */
  busyMaxMs: number;
  /** Most CPU time the whole process used within one gap: adds V8's helper threads (parallel GC, compiler) and libuv's pool. */
  processBusyMaxMs: number;
  /** Longest garbage-collection pause of this process's heap (V8 runs part of it on helper threads). */
  gcMaxMs: number;
}

/**
 * CPU time of the main thread, in ms. On Linux the kernel's per-thread schedstat gives it in ns; helper
 * threads do not block the event loop, so they must not count. Elsewhere the process's CPU time stands in
 * (an upper bound).
 */
const MAIN_THREAD_SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadCpuMs: () => number = fs.existsSync(MAIN_THREAD_SCHEDSTAT)
  ? () => Number(fs.readFileSync(MAIN_THREAD_SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
  : () => processCpuMs();

function processCpuMs(): number {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
}

/**
 * Three probes: perf_hooks' delay histogram, a 5 ms interval's drift, and the main thread's CPU time per
 * tick. On a loaded machine a tick can come late because the OS ran other processes while this one
 * waited for a core; the CPU time per tick separates that from time spent running this process's code.
 */
function startProbe(): () => ProbeResult {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let gcMax = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMax = Math.max(gcMax, entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  let last = performance.now();
  let lastMain = mainThreadCpuMs();
  let lastProcess = processCpuMs();
  let driftMax = 0;
  let busyMax = 0;
  let processBusyMax = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const main = mainThreadCpuMs();
    const whole = processCpuMs();
    driftMax = Math.max(driftMax, now - last - 5);
    busyMax = Math.max(busyMax, main - lastMain);
    processBusyMax = Math.max(processBusyMax, whole - lastProcess);
    last = now;
    lastMain = main;
    lastProcess = whole;
  }, 5);
  return () => {
    clearInterval(timer);
    histogram.disable();
    gc.disconnect();
    return {
      maxMs: histogram.max / 1e6,
      p99Ms: histogram.percentile(99) / 1e6,
      meanMs: histogram.mean / 1e6,
      driftMaxMs: driftMax,
      busyMaxMs: busyMax,
      processBusyMaxMs: processBusyMax,
      gcMaxMs: gcMax,
    };
  };
}

function print(label: string, r: ProbeResult, extra: string): void {
  console.log(
    `${label.padEnd(30)} delay max ${r.maxMs.toFixed(1).padStart(5)} ms (p99 ${r.p99Ms.toFixed(1)}, mean ${r.meanMs.toFixed(1)})  ` +
      `tick drift max ${r.driftMaxMs.toFixed(1).padStart(5)} ms  main-thread CPU per tick max ${r.busyMaxMs.toFixed(1).padStart(5)} ms ` +
      `(process ${r.processBusyMaxMs.toFixed(1)})  GC pause max ${r.gcMaxMs.toFixed(1)} ms  ${extra}`,
  );
}

async function main(): Promise<void> {
  fs.mkdirSync(TMP, { recursive: true });
  const configs = ['chat', 'domain', 'general'].map(writeConfig);
  const controller = new RunController();
  let worst = 0;
  let worstBusy = 0;
  let worstGc = 0;
  let idle: ProbeResult | undefined;
  try {
    // the machine's own noise floor (other processes compete for the same cores)
    const stopIdle = startProbe();
    await new Promise((r) => setTimeout(r, 2000));
    idle = stopIdle();
    print('idle baseline (2 s, no run)', idle, '');

    for (const configPath of configs) {
      let progress = 0;
      let partials = 0;
      const stop = startProbe();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const outcome = await controller.run({ configPath }, { onProgress: () => progress++, onPartialReport: () => partials++ });
      const r = stop();
      const cpu = process.cpuUsage(cpu0);
      if (outcome.kind !== 'done') throw new Error(`run failed: ${JSON.stringify(outcome)}`);
      worst = Math.max(worst, r.maxMs, r.driftMaxMs);
      worstBusy = Math.max(worstBusy, r.busyMaxMs);
      worstGc = Math.max(worstGc, r.gcMaxMs);
      print(
        `worker run ${path.basename(configPath)}`,
        r,
        `(${((performance.now() - t0) / 1000).toFixed(1)} s, ${progress} progress, ${partials} partial reports; this process used ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU)`,
      );
    }
    // cancel: the kill path must not stall the caller either
    const stop = startProbe();
    const run = controller.run(
      { configPath: configs[0] },
      {
        onProgress: (e) => {
          if (e.stage === 'forward') void controller.cancel();
        },
      },
    );
    const outcome = await run;
    const r = stop();
    worst = Math.max(worst, r.maxMs, r.driftMaxMs);
    worstBusy = Math.max(worstBusy, r.busyMaxMs);
    worstGc = Math.max(worstGc, r.gcMaxMs);
    print('worker run, cancelled', r, `(${outcome.kind})`);

    if (!process.argv.includes('--no-contrast')) {
      const stopInProcess = startProbe();
      await runDiagnostic(loadRunConfig(configs[0]), { outPath: path.join(TMP, 'in-process.json') });
      print('in-process engine (contrast)', stopInProcess(), '(what the worker avoids)');
    }
  } finally {
    fs.rmSync(TMP, { recursive: true, force: true });
  }
  const load =
    `machine load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores` +
    (idle ? `, idle baseline ${Math.max(idle.maxMs, idle.driftMaxMs).toFixed(1)} ms` : '');
  console.log(`max event-loop delay with the worker: ${worst.toFixed(1)} ms (wall clock, budget ${BUDGET_MS} ms; ${load})`);
  const scope = fs.existsSync(MAIN_THREAD_SCHEDSTAT) ? 'the main thread' : 'this process (no per-thread clock here)';
  console.log(`max CPU ${scope} used between two 5 ms ticks: ${worstBusy.toFixed(1)} ms (an upper bound on its own blocking work)`);
  console.log(`longest garbage-collection pause: ${worstGc.toFixed(1)} ms`);
  // Wall-clock delay also counts time the main thread waited: for a core (other processes, the run's worker
  // among them) or for V8's GC threads and the kernel during a pause. What this process's code does on its
  // event loop is its main thread's CPU time, so the verdict is on that; the others are reported beside it.
  const ok = worstBusy <= BUDGET_MS;
  const wallNote =
    worst <= BUDGET_MS
      ? 'wall-clock delay within budget too'
      : 'wall-clock delay over budget: the main thread waited for a core or for a GC pause (see the idle baseline and GC pauses)';
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${ok ? 'no' : 'a'} stall over ${BUDGET_MS} ms from work on this event loop; ${wallNote}`);
  process.exitCode = ok ? 0 : 1;
}

void main();
