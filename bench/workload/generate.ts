import * as fs from 'fs';
import * as path from 'path';
import { loadTokenizer } from '../../src/engine/data/tokenizer';
import { onnx } from 'onnx-proto';
import { HookedModel } from '../../src/engine/model/runner';
import { buildLlamaGraph, LlamaSizes } from './llamaGraph';
import { defaultWorkloadDir, GENERATOR_VERSION, WorkloadOptions } from './options';
import { Rng, streamSeed } from './rng';
import { writeSaeFolder } from './saeFolder';
import { WeightStore } from './weightStore';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'tiny-llama');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
/** Above this many weight bytes per model, weights go to an external data file (protobuf caps a message at 2 GB). */
const EXTERNAL_ABOVE = 1 << 30;
/**
 * Tokens of base activations the SAEs are calibrated on (the Python bench uses up to 4096): 2048, fewer
 * for big models so the CPU forward stays near 400 GFLOP (256 tokens for a 1B-class model).
 */
const calibrationTokens = (params: number) => Math.max(256, Math.min(2048, Math.floor(2e11 / params)));

export interface Workload {
  dir: string;
  config: string;
  options: WorkloadOptions;
  reused: boolean;
}

function paramCount(s: LlamaSizes): number {
  const hd = s.hidden / s.heads;
  const block = s.hidden * (s.heads * hd) * 2 + s.hidden * (s.kvHeads * hd) * 2 + 3 * s.hidden * s.inter + 2 * s.hidden;
  return s.layers * block + 2 * s.vocab * s.hidden + s.hidden;
}

/** The folder of fine-tune i (0-based): sft, sft2, sft3, ... */
export const fineTuneFolder = (i: number) => (i === 0 ? 'sft' : `sft${i + 1}`);

/**
 * Writes one model folder: model.onnx (+ model.onnx_data when large), config.json, tokenizer files.
 * `fineTune`: undefined for base, else the fine-tune's index (each adds noise of its own seed).
 */
function writeModel(dir: string, o: WorkloadOptions, fineTune: number | undefined, externalAbove: number): number {
  fs.mkdirSync(dir, { recursive: true });
  const sizes: LlamaSizes = {
    hidden: o.hidden,
    layers: o.layers,
    inter: o.inter,
    heads: o.heads,
    kvHeads: o.kvHeads,
    vocab: o.vocab,
    fp16: o.fp16,
  };
  const params = paramCount(sizes);
  const external = params * (o.fp16 ? 2 : 4) > externalAbove;
  const dataFile = path.join(dir, 'model.onnx_data');
  fs.rmSync(dataFile, { force: true });
  const store = new WeightStore(external ? { path: dataFile, location: 'model.onnx_data', minBytes: 1024 } : undefined);
  try {
    const model = buildLlamaGraph(sizes, store, (name, dims, kind) => {
      const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
      if (kind === 'ones') values.fill(1);
      else {
        // base weights of std 0.02 like make_bench.py; the fine-tune adds noise of std 0.01 on the later half of the layers
        new Rng(streamSeed(o.seed, name)).fillUniform(values, 0.02);
        const layer = /^model\.layers\.(\d+)\./.exec(name);
        if (fineTune !== undefined && layer && Number(layer[1]) >= Math.floor(o.layers / 2))
          new Rng(streamSeed(o.seed + 1 + fineTune, name)).fillUniform(values, 0.01, true);
      }
      store.addFloat(name, dims, values, o.fp16);
    });
    // one plain message: the engine decodes model files with protobufjs, which does not merge split graph fields
    fs.writeFileSync(path.join(dir, 'model.onnx'), onnx.ModelProto.encode(model).finish());
  } finally {
    store.close();
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'base', 'config.json'), 'utf8'));
  Object.assign(cfg, {
    hidden_size: o.hidden,
    intermediate_size: o.inter,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    head_dim: o.hidden / o.heads,
    vocab_size: o.vocab,
    max_position_embeddings: Math.max(256, o.maxTokens),
    torch_dtype: o.fp16 ? 'float16' : 'float32',
  });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  for (const f of TOKENIZER_FILES) fs.copyFileSync(path.join(FIXTURE, 'base', f), path.join(dir, f));
  return params;
}

/** The largest token id the fixture tokenizer can emit, + 1 (the embedding needs at least that many rows). */
function tokenizerVocab(): number {
  const t = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'base', 'tokenizer.json'), 'utf8'));
  const ids = [...Object.values(t.model.vocab as Record<string, number>), ...(t.added_tokens ?? []).map((a: { id: number }) => a.id)];
  return Math.max(...ids) + 1;
}

/** Prompts as make_bench.py builds them: fixture texts joined until a prompt reaches max_tokens. */
function buildPrompts(o: WorkloadOptions, encode: (t: string) => number[]): string[] {
  const texts = ['general.jsonl', 'domain.jsonl'].flatMap((f) =>
    fs
      .readFileSync(path.join(FIXTURE, 'eval', f), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l).text as string),
  );
  const prompts: string[] = [];
  let cur = '';
  for (let i = 0; prompts.length < o.prompts; i++) {
    cur = `${cur} ${texts[i % texts.length].replace(/\n/g, ' ')}`.trim();
    if (encode(cur).length >= o.maxTokens) {
      prompts.push(cur);
      cur = '';
    }
  }
  return prompts;
}

/** Base resid_post activations at each SAE layer, position 0 excluded, for calibrating the SAEs. */
async function calibrationActivations(
  baseOnnx: string,
  o: WorkloadOptions,
  encoded: number[][],
  budget: number,
): Promise<Map<number, Float32Array>> {
  const model = await HookedModel.load(
    baseOnnx,
    { targets: o.saeLayers, hookPoint: 'resid_post', tensorNames: new Map() },
    { provider: 'cpu', threads: 0 },
  );
  const chunks = new Map<number, Float32Array[]>(o.saeLayers.map((l) => [l, []]));
  let tokens = 0;
  try {
    for (const ids of encoded) {
      if (tokens >= budget) break;
      const seq = ids.length;
      const out = await model.run({ batch: 1, seq, ids: Int32Array.from(ids), mask: new Uint8Array(seq).fill(1) });
      for (const [layer, a] of out) chunks.get(layer)!.push(a.data.slice(a.hidden));
      tokens += seq - 1;
    }
  } finally {
    await model.release();
  }
  const joined = new Map<number, Float32Array>();
  for (const [layer, parts] of chunks) {
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    joined.set(layer, all);
  }
  return joined;
}

function configYaml(o: WorkloadOptions): string {
  const sft =
    o.fineTunes === 1 ? '"sft"' : `[${Array.from({ length: o.fineTunes }, (_, i) => `{ path: "${fineTuneFolder(i)}" }`).join(', ')}]`;
  return `# Synthetic bench workload written by bench/workload (sae-diff ${GENERATOR_VERSION}); regenerate with npm run bench.
diagnostic_pipeline:
  models: { base: "base", sft: ${sft} }
  sae: { path: "saes/blocks.{layer}.hook_resid_post", k: ${o.k} }
  layers: { target_indices: [${o.saeLayers.join(', ')}], hook_mode: "forward" }
  dataset: { path: "eval/prompts.jsonl", max_samples: ${o.prompts} }
  metrics: { cosine_threshold: 0.95, overlap_threshold: 0.5, l1_divergence_threshold: 0.3 }
  runtime: { max_tokens: ${o.maxTokens} }
  output: { format: "json", save_path: "out/bench.sae-report.json" }
`;
}

/**
 * Builds the workload (deterministic for the same options and seed), or reuses the one already in the
 * folder when its workload.json (written last, so an interrupted build is never reused) matches.
 * `externalAbove`: weight bytes per model above which weights go to model.onnx_data (lowered by tests).
 */
export async function ensureWorkload(
  o: WorkloadOptions,
  dir = defaultWorkloadDir(o),
  log: (line: string) => void = () => {},
  externalAbove = EXTERNAL_ABOVE,
): Promise<Workload> {
  const marker = path.join(dir, 'workload.json');
  const want = JSON.stringify({ generator: GENERATOR_VERSION, options: o, externalAbove }, null, 2);
  const config = path.join(dir, 'bench.yaml');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want && fs.existsSync(config))
    return { dir, config, options: o, reused: true };
  const minVocab = tokenizerVocab();
  if (o.vocab < minVocab) throw new Error(`--vocab ${o.vocab} is below the tokenizer's ${minVocab} ids`);
  fs.rmSync(marker, { force: true });
  const t0 = performance.now();
  const params = writeModel(path.join(dir, 'base'), o, undefined, externalAbove);
  for (let i = 0; i < o.fineTunes; i++) writeModel(path.join(dir, fineTuneFolder(i)), o, i, externalAbove);
  log(
    `models written (base and ${o.fineTunes} fine-tune${o.fineTunes > 1 ? 's' : ''}, ${(params / 1e6).toFixed(1)}M parameters each, ${o.fp16 ? 'float16' : 'float32'}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const tok = loadTokenizer(path.join(FIXTURE, 'base', 'tokenizer.json'), path.join(FIXTURE, 'base', 'tokenizer_config.json'));
  const prompts = buildPrompts(o, tok.encode);
  fs.mkdirSync(path.join(dir, 'eval'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'eval', 'prompts.jsonl'), prompts.map((p) => JSON.stringify({ text: p }) + '\n').join(''));
  const encoded = prompts.map((p) => tok.encode(p).slice(0, o.maxTokens));
  const acts = await calibrationActivations(path.join(dir, 'base', 'model.onnx'), o, encoded, calibrationTokens(params));
  const template = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'saes', 'blocks.0.hook_resid_post', 'cfg.json'), 'utf8'));
  for (const layer of o.saeLayers) {
    await writeSaeFolder(
      path.join(dir, 'saes', `blocks.${layer}.hook_resid_post`),
      { layer, hidden: o.hidden, dSae: o.dSae, fp16: o.fp16, seed: o.seed, modelName: 'bench-llama' },
      acts.get(layer)!,
      template,
    );
  }
  fs.writeFileSync(
    path.join(dir, 'bench.json'),
    JSON.stringify({
      layers: o.saeLayers,
      k: o.k,
      max_tokens: o.maxTokens,
      nprompts: o.prompts,
      hidden: o.hidden,
      n_layers: o.layers,
      d_sae: o.dSae,
    }),
  );
  fs.writeFileSync(config, configYaml(o));
  fs.writeFileSync(marker, want);
  log(`workload ready in ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return { dir, config, options: o, reused: false };
}
