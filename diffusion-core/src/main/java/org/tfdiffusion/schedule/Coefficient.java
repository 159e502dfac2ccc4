package org.tfdiffusion.schedule;

/**
 * The per-timestep arrays that a {@link NoiseSchedule} precomputes, named after their formulas (the
 * names of the tutorial and of lucidrains' denoising-diffusion-pytorch). Index t runs over 0..T-1
 * and stands for the paper's step t+1.
 */
public enum Coefficient {
  /** β_t. */
  BETAS,
  /** α_t = 1 - β_t. */
  ALPHAS,
  /** ᾱ_t = ∏_{s≤t} α_s. */
  ALPHAS_CUMPROD,
  /** ᾱ_{t-1}, with ᾱ_{-1} = 1. */
  ALPHAS_CUMPROD_PREV,
  /** √ᾱ_t: the signal scale of q(x_t | x_0). */
  SQRT_ALPHAS_CUMPROD,
  /** √(1 - ᾱ_t): the noise scale of q(x_t | x_0). */
  SQRT_ONE_MINUS_ALPHAS_CUMPROD,
  /** √(1 / α_t): the mean scale of the DDPM reverse step. */
  SQRT_RECIP_ALPHAS,
  /** √(1 / ᾱ_t): x_0 = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε. */
  SQRT_RECIP_ALPHAS_CUMPROD,
  /** √(1 / ᾱ_t - 1). */
  SQRT_RECIPM1_ALPHAS_CUMPROD,
  /** β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t): the variance of q(x_{t-1} | x_t, x_0). */
  POSTERIOR_VARIANCE,
  /** log(max(β̃_t, 1e-20)), as in the tutorial (β̃_0 = 0). */
  POSTERIOR_LOG_VARIANCE_CLIPPED,
  /** β_t √ᾱ_{t-1} / (1 - ᾱ_t): the x_0 weight of the posterior mean. */
  POSTERIOR_MEAN_COEF1,
  /** (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t): the x_t weight of the posterior mean. */
  POSTERIOR_MEAN_COEF2;

  /**
   * The snake_case name used in the literature and in config dumps, e.g. {@code alphas_cumprod}.
   */
  public String formulaName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
