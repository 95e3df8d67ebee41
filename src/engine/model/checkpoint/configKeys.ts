/** What the config readers of the checkpoint graphs (decoderConfig.ts, gpt2Config.ts, gptNeoxConfig.ts) share. */
import { SaeDiffError } from '../../core/errors';

export const EXPORT_HINT = 'Export the model to ONNX instead (`optimum-cli export onnx --model <folder> <out>`) and give that folder.';
export const SAVED_HINT = 'Use the config.json the checkpoint was saved with.';

/** A config.json key the graph cannot take, named with the file. */
export function refuse(file: string, key: string, message: string, hint: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file, key }, hint });
}

/** transformers' ACT2FN names of the activations the GPT-2 and GPT-NeoX MLPs are built with. */
const MLP_ACTIVATIONS: Record<string, 'gelu' | 'gelu_tanh' | 'relu'> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
};

/** The MLP's activation config.json names under `key` (`fallback`: the config class's default), or its refusal. */
export function mlpActivation(
  c: Record<string, unknown>,
  key: string,
  fallback: string,
  family: string,
  file: string,
): 'gelu' | 'gelu_tanh' | 'relu' {
  const name = String(c[key] ?? fallback);
  const activation = MLP_ACTIVATIONS[name];
  if (!activation)
    throw refuse(
      file,
      key,
      `${key} ${JSON.stringify(name)} is not built for ${family} checkpoints (${Object.keys(MLP_ACTIVATIONS).join(', ')} are)`,
      EXPORT_HINT,
    );
  return activation;
}

/** A positive number config.json gives under `key`, else `fallback`. */
export function positiveNumber(c: Record<string, unknown>, key: string, fallback: number, file: string): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !(v > 0)) throw refuse(file, key, `${key} is ${JSON.stringify(v)}, not a positive number`, SAVED_HINT);
  return v;
}
