/**
 * One measured run of the engine, in its own process so that its peak RSS is its own:
 * node out/bench/runOnce.js <config.yaml> <provider> <report.json> [threads]
 * Prints one JSON line: tokens, stage timings, provider, peak RSS (process.resourceUsage().maxRSS, KiB on Linux).
 */
import { loadRunConfig } from '../src/engine/model/loadRunConfig';
import type { ProviderRequest } from '../src/engine/config/types';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';

async function main(): Promise<void> {
  const [config, provider, out, threads] = process.argv.slice(2);
  const t0 = performance.now();
  const { report } = await runDiagnostic(loadRunConfig(config), {
    provider: provider as ProviderRequest,
    outPath: out,
    threads: threads ? Number(threads) : undefined,
  });
  const numbers = report.comparisons.flatMap((c) =>
    c.layers.flatMap((l) => [l.dense_cosine, l.feature_overlap, l.l1_divergence, l.explained_variance_base]),
  );
  process.stdout.write(
    JSON.stringify({
      run_s: (performance.now() - t0) / 1000,
      tokens: report.run.tokens,
      timings: report.run.timings ?? {},
      provider: report.run.execution_provider,
      provider_reason: report.run.execution_provider_reason,
      max_rss_mb: process.resourceUsage().maxRSS / 1024,
      finite: numbers.every(Number.isFinite),
    }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
