import { PROVIDER_REQUESTS } from '../engine/config/schema';
import type { ProviderRequest } from '../engine/config/types';
import { CancelledError, SaeDiffError } from '../engine/core/errors';
import { mergeToFile } from '../engine/merge/merge';
import { loadRunConfig } from '../engine/model/loadRunConfig';
import { runDiagnostic } from '../engine/pipeline/pipeline';
import { removeLiveTempFiles } from '../engine/report/writeReport';
import { timeLeftText, type ProgressEvent } from '../engine/pipeline/progress';
import { TOOL_VERSION } from '../engine/core/version';
import { runDoctorCli } from './doctor';
import { runValidate } from './validate';

const PROVIDERS = PROVIDER_REQUESTS;

const USAGE = `sae-diff ${TOOL_VERSION}: what did fine-tuning change inside the model?

Usage:
  sae-diff run <config.yaml> [--provider ${PROVIDERS.join('|')}] [--out <file>] [--fail-on-flags] [--quiet]
               [--shard i/n]      run only the i-th of n slices of the dataset, writing a partial report
  sae-diff merge <part>... --out <report.json> [--tokenizer <base tokenizer.json>]
  sae-diff validate <config.yaml>
  sae-diff doctor [config.yaml] [--json]
                                 which execution providers load on this machine, and what to install; on a GPU,
                                 its SAE kernels against the CPU and (given a config) how its base model runs

Exit codes: 0 ok, 1 error, 2 a layer is flagged (run --fail-on-flags).`;

interface ParsedArgs {
  command?: string;
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags.set(name, a.slice(eq + 1));
      else if (['provider', 'out', 'shard', 'tokenizer'].includes(name) && i + 1 < argv.length) flags.set(name, argv[++i]);
      else flags.set(name, true);
    } else if (command === undefined) command = a;
    else positional.push(a);
  }
  return { command, positional, flags };
}

/** The flags each command takes (besides --help and --version). */
const COMMAND_FLAGS: Record<string, string[]> = {
  run: ['provider', 'out', 'fail-on-flags', 'quiet', 'shard'],
  merge: ['out', 'tokenizer'],
  validate: [],
  doctor: ['json'],
};

/** Run settings that live in the config, not on the command line: an unknown flag named like one points there. */
const CONFIG_SETTINGS: Record<string, string> = {
  threads: 'runtime.threads',
  'batch-size': 'runtime.batch_size',
  'max-tokens': 'runtime.max_tokens',
  reduction: 'runtime.reduction',
};

/** What is wrong with the command's flags, or undefined: a mistyped flag is refused, never ignored. */
export function unknownFlags(args: ParsedArgs): string | undefined {
  const known = COMMAND_FLAGS[args.command ?? ''];
  if (!known) return undefined; // an unknown command has its own message
  for (const name of args.flags.keys()) {
    if (known.includes(name) || name === 'help' || name === 'version') continue;
    const setting = CONFIG_SETTINGS[name];
    const takes = known.length > 0 ? `; ${args.command} takes ${known.map((f) => `--${f}`).join(', ')}` : '';
    return `unknown option --${name} for ${args.command}${setting ? ` (set ${setting} in the config file instead)` : ''}${takes}.`;
  }
  return undefined;
}

function formatProgress(e: ProgressEvent): string {
  const parts = [`[${e.stage}]`, e.message];
  if (e.tokensPerSecond)
    parts.push(`(${Math.round(e.tokensPerSecond)} tok/s${e.secondsLeft !== undefined ? `, ${timeLeftText(e.secondsLeft)}` : ''})`);
  return parts.join(' ');
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.flags.has('version')) {
    process.stdout.write(TOOL_VERSION + '\n');
    return 0;
  }
  if (!args.command || args.flags.has('help') || args.command === 'help') {
    process.stdout.write(USAGE + '\n');
    return args.command ? 0 : 1;
  }
  const unknown = unknownFlags(args);
  if (unknown) {
    process.stderr.write(`error: ${unknown}\n\n${USAGE}\n`);
    return 1;
  }
  if (args.command === 'doctor') return runDoctorCli(args.flags.has('json'), args.positional[0]);
  const file = args.positional[0];
  if (!file) {
    process.stderr.write(`error: ${args.command} needs a config file.\n\n${USAGE}\n`);
    return 1;
  }
  if (args.command === 'validate') return runValidate(file);
  if (args.command === 'merge') return runMerge(args);
  if (args.command !== 'run') {
    process.stderr.write(`error: unknown command '${args.command}'.\n\n${USAGE}\n`);
    return 1;
  }
  const provider = args.flags.get('provider');
  if (provider !== undefined && !PROVIDERS.includes(provider as ProviderRequest)) {
    process.stderr.write(`error: --provider must be one of ${PROVIDERS.join(', ')} (got ${String(provider)}).\n`);
    return 1;
  }
  const out = args.flags.get('out');
  const quiet = args.flags.has('quiet');
  let shard: { index: number; count: number } | undefined;
  const shardFlag = args.flags.get('shard');
  if (shardFlag !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(String(shardFlag));
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) {
      process.stderr.write(`error: --shard must be i/n with 1 <= i <= n (got ${String(shardFlag)}).\n`);
      return 1;
    }
    shard = { index: Number(m[1]) - 1, count: Number(m[2]) };
  }
  const controller = new AbortController();
  let watchdog: NodeJS.Timeout | undefined;
  const onSignal = () => {
    controller.abort();
    // a stage that cannot see the abort (a native call still pending) must not hold the exit: no report, no temp file
    watchdog = setTimeout(() => {
      removeLiveTempFiles();
      process.stderr.write('cancelled: no report was written.\n');
      process.exit(130);
    }, 5000);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const config = loadRunConfig(file);
    const { report, reportPath } = await runDiagnostic(config, {
      provider: provider as ProviderRequest | undefined,
      outPath: typeof out === 'string' ? out : undefined,
      shard,
      signal: controller.signal,
      onProgress: quiet ? undefined : (e) => process.stderr.write(formatProgress(e) + '\n'),
      onLog: quiet ? undefined : (line) => process.stderr.write(`  ${line}\n`),
    });
    const flagged = report.comparisons.flatMap((c) =>
      c.layers.filter((l) => l.flags.length > 0).map((l) => `${c.sft.name} layer ${l.layer}: ${l.flags.join(', ')}`),
    );
    process.stdout.write(`${reportPath}\n`);
    if (!quiet && !shard) for (const c of report.comparisons) process.stderr.write(summaryTable(c) + '\n');
    if (args.flags.has('fail-on-flags') && flagged.length > 0) {
      process.stderr.write(`flagged: ${flagged.join('; ')}\n`);
      return 2;
    }
    return 0;
  } catch (e) {
    if (e instanceof CancelledError || (controller.signal.aborted && !(e instanceof SaeDiffError))) {
      process.stderr.write('cancelled: no report was written.\n');
      return 130;
    }
    if (e instanceof SaeDiffError) process.stderr.write(`error: ${e.format()}\n`);
    else process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  } finally {
    if (watchdog) clearTimeout(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function runMerge(args: ParsedArgs): number {
  const out = args.flags.get('out');
  if (typeof out !== 'string') {
    process.stderr.write('error: merge needs --out <report.json>.\n');
    return 1;
  }
  try {
    const tokenizer = args.flags.get('tokenizer');
    mergeToFile(args.positional, out, { tokenizer: typeof tokenizer === 'string' ? tokenizer : undefined });
    process.stdout.write(`${out}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${e instanceof SaeDiffError ? e.format() : (e as Error).stack}\n`);
    return 1;
  }
}

function summaryTable(c: {
  sft: { name: string };
  layers: {
    layer: number;
    dense_cosine: number;
    feature_overlap: number;
    l1_divergence: number;
    explained_variance_base: number;
    flags: string[];
    shifted_count: number;
  }[];
}): string {
  const rows = c.layers.map(
    (l) =>
      `  ${String(l.layer).padStart(5)}  ${l.dense_cosine.toFixed(4)}  ${l.feature_overlap.toFixed(4)}  ${l.l1_divergence.toFixed(4)}  ${l.explained_variance_base.toFixed(3)}  ${String(l.shifted_count).padStart(7)}  ${l.flags.join(', ') || '-'}`,
  );
  return [`${c.sft.name}:`, '  layer  dense_cos  overlap  l1_div  EV_base  shifted  flags', ...rows].join('\n');
}
