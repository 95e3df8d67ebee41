import type { SaeFormatModule } from '../types';
import { attentionOutputSaesFormat } from './attentionOutputSaes';
import { dictionaryLearningFormat } from './dictionaryLearning';
import { gemmaScopeFormat } from './gemmascope';
import { lmSaesFormat } from './lmSaes';
import { saelensFormat } from './saelens';
import { sparsifyFormat } from './sparsify';
import { torchStateDictFormat } from './torchStateDict';

/** Every SAE file format, in detection order (adding a format: one module here and one line). */
export const SAE_FORMATS: SaeFormatModule[] = [
  // before SAELens: a later Language-Model-SAEs folder holds an sae_weights.safetensors too, beside its config.json
  lmSaesFormat,
  saelensFormat,
  sparsifyFormat,
  gemmaScopeFormat,
  dictionaryLearningFormat,
  // before the lone state dicts: its folders hold one .pt too, beside its {name}_cfg.json
  attentionOutputSaesFormat,
  torchStateDictFormat,
];
