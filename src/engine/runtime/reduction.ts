import type { ExecutionProviderName, ReductionRequest } from '../config/types';

export type Reduction = 'sparse' | 'dense';

export interface ReductionChoice {
  reduction: Reduction;
  /**
   * Where the hooked activations stay between the model session and the SAE session: 'gpu-buffer'
   * keeps them on the device (ONNX Runtime IO binding), undefined brings them to the host.
   */
  activationLocation?: 'gpu-buffer';
  reason: string;
}

/**
 * How a run reduces the SAE codes, by provider. On the CPU the sparse path wins: the graph emits
 * the active latents and JavaScript walks only those (O(tokens x L0)). On a GPU every batch's round
 * trip and the host-side walk dominate, so the dense path reduces over the tokens inside the graph
 * and reads back O(SAE width) per layer. `runtime.reduction` overrides either way; both paths give
 * the same numbers within the tolerances of docs/metrics.md.
 *
 * Device-resident activations: onnxruntime-node 1.30 binds 'gpu-buffer' outputs to WebGPU buffers
 * only (its binding names the memory "WebGPU_Buf" for every gpu-buffer value, js/node/src/
 * inference_session_wrap.cc); 'ml-tensor' is WebNN, a browser API. So activations stay on the device
 * for WebGPU with the dense path, and come to the host for CUDA, DirectML and CoreML (whose SAE
 * session then uploads them again: one copy each way, still no per-token codes read back).
 */
export function chooseReduction(provider: ExecutionProviderName, requested: ReductionRequest = 'auto'): ReductionChoice {
  const reduction: Reduction = requested === 'auto' ? (provider === 'cpu' ? 'sparse' : 'dense') : requested;
  const why =
    requested === 'auto' ? `auto: ${provider === 'cpu' ? 'sparse on cpu' : `dense on ${provider}`}` : `runtime.reduction: ${requested}`;
  if (reduction === 'dense' && provider === 'webgpu') {
    return { reduction, activationLocation: 'gpu-buffer', reason: `${why}; hooked activations stay on the device` };
  }
  const where =
    provider === 'cpu'
      ? ''
      : reduction === 'dense'
        ? `; hooked activations go through the host (onnxruntime-node keeps device outputs for webgpu only)`
        : '; hooked activations go through the host (the sparse path reads them in JavaScript)';
  return { reduction, reason: why + where };
}
