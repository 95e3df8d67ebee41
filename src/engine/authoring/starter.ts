import { schemaDefault, schemaEnum } from '../config/schema';

/** Default file name for a new config (the `.sae-diff.yaml` suffix turns on validation and the Run button). */
export const STARTER_FILE_NAME = 'diagnostic.sae-diff.yaml';

export interface StarterOptions {
  base?: string;
  sft?: string;
  sae?: string;
  dataset?: string;
  layers?: number[];
}

/** A commented starter config; every optional key shows its default. Paths are relative to the file. */
export function starterConfigText(o: StarterOptions = {}): string {
  const q = (s: string) => JSON.stringify(s);
  // defaults and allowed values come from the schema, their one definition
  const d = (key: string) => String(schemaDefault(key));
  const pad = (key: string, width: number) => d(key).padEnd(width);
  const values = (key: string) => schemaEnum(key).join(' | ');
  return `# SAE Diff diagnostic config: compares a base model with its fine-tune(s) through a sparse
# autoencoder (SAE) trained on the base model. Relative paths resolve against this file's folder.
# Hover a key for its documentation; Ctrl+Space completes keys, values, layers and paths.
diagnostic_pipeline:
  models:
    # Folders holding config.json, tokenizer.json and the weights: model.safetensors as
    # save_pretrained writes it (Llama, Mistral, Qwen2, Qwen3, Gemma 2 and 3, Phi-2 and 3, SmolLM3, OLMo 2 and 3,
    # Granite 3, GPT-2, GPT-NeoX / Pythia), or an ONNX export (model.onnx, onnx/model.onnx).
    # A Hugging Face id works when the model is in the local Hugging Face cache (hf download <id>);
    # other architectures: optimum-cli export onnx --model <id> <folder>
    base: ${q(o.base ?? 'models/base')}
    sft: ${q(o.sft ?? 'models/sft')}
    # sft can also be a list, to compare several fine-tunes with the same base:
    # sft:
    #   - { name: domain, path: models/sft-domain }
    #   - { name: chat, path: models/sft-chat }

  sae:
    # One SAE folder per target layer: {layer} is replaced by each index of layers.target_indices.
    path: ${q(o.sae ?? 'saes/blocks.{layer}.hook_resid_post')}
    k: ${pad('sae.k', 21)}# top-k features compared per token
    format: ${pad('sae.format', 16)}# ${values('sae.format')}
    check_hook_layer: ${pad('sae.check_hook_layer', 6)}# refuse an SAE trained on another layer than the one it is assigned to

  layers:
    target_indices: [${(o.layers ?? [0, 1, 2]).join(', ')}]   # 0-based decoder blocks, below the model's layer count
    hook_point: ${pad('layers.hook_point', 12)}# where the SAE reads: ${values('layers.hook_point')} (must match the SAE)

  dataset:
    path: ${q(o.dataset ?? 'prompts.jsonl')}   # .jsonl / .json / .parquet records (text, prompt, messages, ShareGPT, Alpaca), or .txt
    # field: question   # the record key that holds each prompt, when it is none of those
    max_samples: 256
    exclude_bos: ${d('dataset.exclude_bos')}
    prepend_bos: ${pad('dataset.prepend_bos', 6)}# ${values('dataset.prepend_bos')}: BOS first in each prompt, as the SAEs were trained

  metrics:
    cosine_threshold: ${d('metrics.cosine_threshold')}
    overlap_threshold: ${d('metrics.overlap_threshold')}
    l1_divergence_threshold: ${d('metrics.l1_divergence_threshold')}

  runtime:
    execution_provider: ${pad('runtime.execution_provider', 6)}# ${values('runtime.execution_provider')}
    batch_size: ${d('runtime.batch_size')}
    max_tokens: ${d('runtime.max_tokens')}

  output:
    format: ${d('output.format')}
    # save_path: report.sae-report.json   # default: next to this file
`;
}
