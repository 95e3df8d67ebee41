/** Scalar sums over T; every layer metric of docs/metrics.md is a ratio of these. */
export interface LayerSums {
  tokens: number;
  cos_h: number;
  cos_r: number;
  overlap: number;
  jaccard: number;
  l1_num: number;
  l1_den: number;
  norm_b: number;
  norm_s: number;
  l0_b: number;
  l0_s: number;
  err_b: number;
  err_s: number;
  sq_b: number;
  sq_s: number;
  /** sum |Δh|^2, and its split into Δh·Δr (inside the dictionary) and Δh·Δe (outside). */
  delta_sq: number;
  inside: number;
  outside: number;
}
