/**
 * The multimodal models whose text decoder runs from a checkpoint (decoderConfig.ts decoderSpec reads them as it):
 * which config classes, which text families their text_config may name, and how they tie the head.
 */
import { EXPORT_HINT, refuse } from './configKeys';
import { CHECKPOINT_FAMILIES, type DecoderFamily } from './decoderFamilies';

/** config.json as read (model/modelFolder.ts's HfConfig). */
type HfConfig = Record<string, unknown>;

/**
 * Multimodal models whose text decoder runs from a checkpoint: model_type -> its text model's (text_config), and
 * whether the top-level tie_word_embeddings ties the head (Qwen3_5ForConditionalGeneration's, transformers 5.18).
 */
export const MULTIMODAL_TEXT: Record<
  string,
  {
    /** The text model's family, or those text_config.model_type may name (the first its default). */
    text: DecoderFamily | DecoderFamily[];
    /** The config class's default of the top-level tie_word_embeddings, where that one ties the head. */
    tiesAtTop?: boolean;
    /** LLaVA's kin: the head is tied where the top-level tie_word_embeddings or the text model's says so. */
    tiesEither?: boolean;
    /**
     * Qwen2-VL and Qwen2.5-VL: the hub's config.json (transformers 4) keeps the text model's keys at its top level,
     * beside vision_config, which transformers 5 moves into text_config; and names their multimodal RoPE
     * `rope_scaling.type: "mrope"`, which their text config reads as default RoPE over mrope_section.
     */
    qwenVl?: boolean;
  }
> = {
  gemma3: { text: 'gemma3_text' },
  qwen3_5: { text: 'qwen3_5_text', tiesAtTop: false },
  qwen3_5_moe: { text: 'qwen3_5_moe_text', tiesAtTop: false },
  // Mistral3ForConditionalGeneration (Mistral Small 3.1 / 3.2: a mistral text_config; Ministral 3: ministral3)
  mistral3: { text: ['mistral', 'ministral3'], tiesAtTop: true },
  gemma4: { text: 'gemma4_text', tiesAtTop: true },
  // Qwen3-VL and Qwen2.5-VL / Qwen2-VL: Qwen3's and Qwen2's decoders with multimodal RoPE, which rotates a text
  // prompt's tokens (the same temporal, height and width positions) as plain RoPE does; Qwen3-VL's deepstack
  // mergers belong to its vision tower (model.visual.*), which text prompts never reach
  qwen3_vl: { text: 'qwen3', tiesAtTop: false },
  qwen3_vl_moe: { text: 'qwen3_vl_moe_text', tiesAtTop: false },
  qwen2_5_vl: { text: 'qwen2', tiesAtTop: false, qwenVl: true },
  qwen2_vl: { text: 'qwen2', tiesAtTop: false, qwenVl: true },
  // LLaVA's kin (modeling_llava.py and its copies): any decoder sae-diff builds as the text model (their config
  // classes' default first), the vision tower and projector never run; InternVL, Aya Vision and LFM2-VL tie as
  // their top-level key says (default true), the LLaVAs where either key does
  llava: { text: anyText('llama'), tiesEither: true },
  llava_next: { text: anyText('llama'), tiesEither: true },
  llava_next_video: { text: anyText('llama'), tiesEither: true },
  llava_onevision: { text: anyText('qwen2'), tiesEither: true },
  internvl: { text: anyText('qwen2'), tiesAtTop: true },
  aya_vision: { text: anyText('cohere2'), tiesAtTop: true },
  lfm2_vl: { text: anyText('lfm2'), tiesAtTop: true },
  // SmolVLM and Idefics3 (model.text_model.* beside model.vision_model.* and model.connector.*): tied only where
  // the top-level key says so
  smolvlm: { text: anyText('llama'), tiesAtTop: false },
  idefics3: { text: anyText('llama'), tiesAtTop: false },
};

/** Every decoder family, `first` (the config class's default text model) first. */
function anyText(first: DecoderFamily): DecoderFamily[] {
  return [first, ...CHECKPOINT_FAMILIES.filter((f) => f !== first)];
}

/** A Qwen2-VL / Qwen2.5-VL config's text model, from text_config or, as the hub's files have it, the top level. */
export function qwenVlText(config: HfConfig): unknown {
  const { vision_config: _vision, ...top } = config;
  const text = (config.text_config ?? top) as HfConfig;
  if (!text || typeof text !== 'object' || Array.isArray(text)) return text;
  // Qwen2_5_VLTextConfig: rope_scaling {"type": "mrope"} is default RoPE with its mrope_section
  const key = text.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const rope = text[key] as Record<string, unknown> | null | undefined;
  if (!rope || (rope.type ?? rope.rope_type) !== 'mrope') return text;
  const { type: _type, ...rest } = rope;
  return { ...text, [key]: { ...rest, rope_type: 'default' } };
}

/** The text family of a multimodal config's text_config (MULTIMODAL_TEXT), refused when it names another. */
export function multimodalText(config: HfConfig, text: HfConfig, configFile: string): DecoderFamily {
  const families = MULTIMODAL_TEXT[config.model_type as string].text;
  if (!Array.isArray(families)) return families;
  const named = text.model_type ?? families[0];
  const family = families.find((f) => f === named);
  if (!family)
    throw refuse(
      configFile,
      'text_config.model_type',
      `A ${config.model_type} text_config of model_type ${JSON.stringify(named)} is not built (${families.join(', ')} are)`,
      EXPORT_HINT,
    );
  return family;
}
