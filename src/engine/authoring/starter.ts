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
  return `# SAE Diff diagnostic config: compares a base model with its fine-tune(s) through a sparse
# autoencoder (SAE) trained on the base model. Relative paths resolve against this file's folder.
# Hover a key for its documentation; Ctrl+Space completes keys, values, layers and paths.
diagnostic_pipeline:
  models:
    # Folders holding model.onnx (or onnx/model.onnx), config.json and tokenizer.json.
    # A Hugging Face id works when an ONNX export of it is in the local Hugging Face cache;
    # otherwise export it: optimum-cli export onnx --model <id> <folder>
    base: ${q(o.base ?? 'models/base')}
    sft: ${q(o.sft ?? 'models/sft')}
    # sft can also be a list, to compare several fine-tunes with the same base:
    # sft:
    #   - { name: domain, path: models/sft-domain }
    #   - { name: chat, path: models/sft-chat }

  sae:
    # One SAE folder per target layer: {layer} is replaced by each index of layers.target_indices.
    path: ${q(o.sae ?? 'saes/blocks.{layer}.hook_resid_post')}
    k: 128                  # top-k features compared per token
    format: auto            # auto | saelens | sparsify | gemmascope
    check_hook_layer: true  # refuse an SAE trained on another layer than the one it is assigned to

  layers:
    target_indices: [${(o.layers ?? [0, 1, 2]).join(', ')}]   # 0-based decoder blocks, below the model's layer count
    hook_point: resid_post  # where the SAE reads: resid_post | resid_pre | resid_mid | attn_out | mlp_out (must match the SAE)

  dataset:
    path: ${q(o.dataset ?? 'prompts.jsonl')}   # .jsonl with text / prompt / messages per line, or .txt
    max_samples: 256
    exclude_bos: true

  metrics:
    cosine_threshold: 0.95
    overlap_threshold: 0.5
    l1_divergence_threshold: 0.3

  runtime:
    execution_provider: auto  # auto | cpu | cuda | webgpu | dml | coreml
    batch_size: 16
    max_tokens: 256

  output:
    format: json
    # save_path: report.sae-report.json   # default: next to this file
`;
}
