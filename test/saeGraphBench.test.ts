// bench/saeGraphBench.ts, which a GPU session runs first: it runs on the CPU at a small size, times each chunk
// size and the products alone, and its random SAE fires like the bench workload's (0.8% of latents).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

test('the SAE graph bench times each chunk size and its products alone, its SAE firing about 0.8% of latents', () => {
  const script = path.join(__dirname, '..', 'bench', 'saeGraphBench.js');
  const width = 2304;
  const out = execFileSync(
    process.execPath,
    [script, '--provider', 'cpu', '--hidden', '64', '--width', String(width), '--tokens', '100,300', '--runs', '1'],
    {
      encoding: 'utf8',
    },
  );
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^dense SAE graph on cpu: d 64, width 2304, 1 run per size after 2 warm-ups$/);
  for (const [i, n] of [100, 300].entries()) {
    const m = new RegExp(`^${n} tokens: [\\d.]+ ms per run \\(\\d+\\), [\\d,]+ tokens/s, products [\\d.]+ TFLOP/s, L0 ([\\d.]+)$`).exec(
      lines[2 * i + 1],
    );
    assert.ok(m, `line for ${n} tokens: ${lines[2 * i + 1]}`);
    // then the products alone, each form with its time and rate
    const rate = '[\\d.]+ ms, [\\d.]+ TFLOP/s';
    assert.match(
      lines[2 * i + 2],
      new RegExp(
        `^  products alone: encoder Gemm ${rate}; encoder MatMul\\+Add ${rate}; decoder \\(encoder and decoder less encoder\\) (${rate}|not measurable)$`,
      ),
    );
    const firing = Number(m[1]) / width;
    assert.ok(firing > 0.005 && firing < 0.012, `${n} tokens: ${(firing * 100).toFixed(2)}% of latents fire`);
  }
});
