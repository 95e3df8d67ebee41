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
  const sums = new Map<string, { us: number; count: number }>();
  for (const e of events) {
    if (e.ph !== 'X' || e.dur === undefined || e.cat === 'Session') continue;
    // node events carry the operator; other categories (e.g. a provider's GPU timestamps) keep their name
    const op = e.args?.op_name ?? (e.name ?? '?').replace(/_\d+$/, '');
    const key = `${e.cat}/${e.args?.provider ?? ''}/${op}`;
    const s = sums.get(key) ?? { us: 0, count: 0 };
    s.us += e.dur;
    s.count++;
    sums.set(key, s);
  }
  const sorted = [...sums.entries()].sort((a, b) => b[1].us - a[1].us);
  const total = sorted.reduce((n, [, s]) => n + s.us, 0);
  console.log(`\n${path.basename(file)}: ${(total / 1e6).toFixed(2)} s in ${sorted.length} kinds of event`);
  for (const [key, s] of sorted.slice(0, top)) {
    console.log(
      `  ${(s.us / 1e6).toFixed(3).padStart(8)} s ${((100 * s.us) / total).toFixed(1).padStart(5)}%  ${String(s.count).padStart(7)}x  ${key}`,
    );
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
