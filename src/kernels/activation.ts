/**
 * The activations, numbered once: these ids select `act`/`dact` in shaders/activation.wgsl, for
 * matmul's fused epilogue (its `activation` option) and the unary ops (UNARY in elementwise.ts
 * gives its activations these ids).
 */
export const ACTIVATIONS = {
  none: 0,
  relu: 1,
  leakyRelu: 2,
  /** GELU, erf form. */
  gelu: 3,
  geluTanh: 4,
  quickGelu: 5,
  silu: 6,
  sigmoid: 7,
  tanh: 8,
} as const;

export type Activation = keyof typeof ACTIVATIONS;

/** unary.wgsl's first id that is not an activation (the activations' ids lie below it). */
export const UNARY_FIRST_OTHER = 16;
