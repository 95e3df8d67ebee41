/**
 * Sums ONNX Runtime profiles (SAE_DIFF_ORT_PROFILE, runtime/ortProfile.ts) by file and operator: where a
 * run's time went, per session, largest first. Usage: node out/bench/ortProfileSummary.js DIR [TOP]
 */
import * as fs from 'fs';
import * as path from 'path';

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  ph?: string;
  args?: { op_name?: string; provider?: string };
}

function summarise(file: string, top: number): void {
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as TraceEvent[];
  const session = new Map<string, { us: number; count: number }>();
  const ops = new Map<string, { us: number; count: number }>();
  const add = (to: Map<string, { us: number; count: number }>, key: string, us: number) => {
    const s = to.get(key) ?? { us: 0, count: 0 };
    s.us += us;
    s.count++;
    to.set(key, s);
  };
  for (const e of events) {
    if (e.ph !== 'X' || e.dur === undefined) continue;
    // the session's own events (loading, initialisation, each run) enclose its nodes': listed apart
    if (e.cat === 'Session') add(session, e.name ?? '?', e.dur);
    // node events carry the operator; other categories (a provider's GPU timestamps) keep their name
    else add(ops, `${e.cat}/${e.args?.provider ?? ''}/${e.args?.op_name ?? (e.name ?? '?').replace(/_\d+$/, '')}`, e.dur);
  }
  const s = (us: number) => `${(us / 1e6).toFixed(3)} s`;
  console.log(`\n${path.basename(file)}`);
  console.log(
    `  session: ${[...session.entries()].map(([name, v]) => `${name} ${s(v.us)}${v.count > 1 ? ` (${v.count}x)` : ''}`).join(', ')}`,
  );
  const sorted = [...ops.entries()].sort((a, b) => b[1].us - a[1].us);
  const total = sorted.reduce((n, [, v]) => n + v.us, 0);
  for (const [key, v] of sorted.slice(0, top)) {
    console.log(`  ${s(v.us).padStart(10)} ${((100 * v.us) / total).toFixed(1).padStart(5)}%  ${String(v.count).padStart(7)}x  ${key}`);
  }
}

const [dir, top] = process.argv.slice(2);
if (!dir) {
  console.error('usage: ortProfileSummary DIR [TOP]');
  process.exit(2);
}
for (const f of fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort())
  summarise(path.join(dir, f), Number(top ?? 15));
