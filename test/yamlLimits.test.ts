import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DIAGNOSTICS } from '../src/engine/config/configDiagnostic';
import { parseAndCheckConfigText } from '../src/engine/config/diagnostics';

const HEAD =
  'diagnostic_pipeline:\n  models: { base: a, sft: b }\n  sae: { path: s }\n  layers: { target_indices: [0] }\n  dataset: { path: d.jsonl }\n';

function unknownKeys(bytes: number): string {
  let t = HEAD;
  for (let i = 0; t.length < bytes; i++) t += `  unknown_key_number_${i}: ${i}\n`;
  return t;
}

/** CPU time of one call, in seconds (wall time on a shared 2-core machine says more about the neighbours). */
function cpuSeconds(f: () => void): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

test('1 MB of YAML validates in under a second, in linear time, with a capped list of problems', () => {
  parseAndCheckConfigText(unknownKeys(50_000)); // warm the JIT
  let d: ReturnType<typeof parseAndCheckConfigText>['diagnostics'] = [];
  const quarter = cpuSeconds(() => parseAndCheckConfigText(unknownKeys(250_000)));
  const full = cpuSeconds(() => {
    d = parseAndCheckConfigText(unknownKeys(1_000_000)).diagnostics;
  });
  assert.ok(full < 1, `1 MB took ${full.toFixed(2)} s of CPU`);
  assert.ok(full < 8 * quarter + 0.1, `4x the text took ${(full / quarter).toFixed(1)}x the time (quadratic would be 16x)`);
  assert.equal(d.length, MAX_DIAGNOSTICS + 1);
  assert.match(d[d.length - 1].message, /Only the first 100 problems are listed/);
  assert.match(d[0].message, /Unknown key 'unknown_key_number_0'/);
});

test('duplicate keys are still found, on the later key, without the quadratic check', () => {
  const [d] = parseAndCheckConfigText('diagnostic_pipeline:\n  sae: {path: x}\n  sae: {path: y}\n').diagnostics;
  assert.equal(d.message, 'YAML syntax error: Map keys must be unique');
  assert.deepEqual(d.range.start, { line: 2, character: 2 });
});

test('a billion-laughs document gives a diagnostic, not a ReferenceError', () => {
  let t = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 0; i < 8; i++)
    t += `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
      .fill(`*${String.fromCharCode(97 + i)}`)
      .join(',')}]\n`;
  const d = parseAndCheckConfigText(t).diagnostics;
  assert.equal(d.length, 1);
  assert.equal(d[0].code, 'yaml-syntax');
  assert.match(d[0].message, /too many aliases.*billion laughs/);
});

test('.inf, -.inf and .nan are refused as numbers, and NaN is called .nan, not null', () => {
  const cfg = (metrics: string) => HEAD + `  metrics: ${metrics}\n`;
  for (const [v, shown] of [
    ['.inf', '.inf'],
    ['-.inf', '-.inf'],
    ['.nan', '.nan'],
  ]) {
    const d = parseAndCheckConfigText(cfg(`{ cosine_threshold: ${v} }`)).diagnostics;
    const nf = d.find((x) => x.code === 'not-finite');
    assert.ok(nf, `${v}: ${JSON.stringify(d.map((x) => x.message))}`);
    assert.equal(nf.message, `${shown} is not a finite number: every number of the config must be finite.`);
    assert.ok(
      d.every((x) => !/is null/.test(x.message)),
      JSON.stringify(d.map((x) => x.message)),
    );
    assert.equal(nf.range.start.line, 5);
  }
  const inf = parseAndCheckConfigText(cfg('{ overlap_threshold: .inf }')).diagnostics.map((x) => x.message);
  assert.ok(
    inf.some((m) => /'diagnostic_pipeline\.metrics\.overlap_threshold' is \.inf, outside its range/.test(m)),
    inf.join('\n'),
  );
});

test('runtime.threads is bounded in the schema (0 to 256)', () => {
  const d = parseAndCheckConfigText(HEAD + '  runtime: { threads: 100000 }\n').diagnostics;
  assert.ok(
    d.some((x) => x.code === 'out-of-range' && /threads' is 100000, outside its range: it must be <= 256/.test(x.message)),
    JSON.stringify(d),
  );
});
