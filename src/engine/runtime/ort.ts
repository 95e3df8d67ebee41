/**
 * ONNX Runtime for the rest of the engine: the one module outside src/engine/runtime's own files that loads
 * onnxruntime-node is this one, so the lint rules (scripts/layers.mjs) can keep every other import of it out.
 */
export * as ort from 'onnxruntime-node';
