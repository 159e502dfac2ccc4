package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DDIM (Song, Meng &amp; Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12 and 16), with
 * the conventions of diffusers' {@code DDIMScheduler} so that a ported configuration gives the same
 * numbers.
 *
 * <pre>
 *   notation: x̂_0 → pred_original_sample, σ_t → std_dev_t, η → eta
 *   1. t_prev = t - T / N  (integer division, diffusers' rule for every spacing)
 *   2. ᾱ_prev = ᾱ[t_prev], or the final ᾱ (1 if finalAlphaOne, else ᾱ_0) when t_prev &lt; 0
 *   3. x̂_0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t, optionally guarded (clipped or thresholded; ε̂ is then
 *      kept, or recomputed from the guarded x̂_0: diffusers' use_clipped_model_output)
 *   4. σ_t = η √((1 - ᾱ_prev) / (1 - ᾱ_t)) √(1 - ᾱ_t / ᾱ_prev)
 *   5. x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ_t²) ε̂ + σ_t z
 * </pre>
 *
 * η = 0 is deterministic; η = 1 with all T steps is DDPM with σ² = β̃.
 *
 * @param steps N model evaluations, 1..T (diffusers' num_inference_steps)
 * @param eta η in [0, 1]
 * @param spacing timestep spacing (diffusers' timestep_spacing; default leading)
 * @param stepsOffset added to the timesteps by leading spacing (diffusers' steps_offset)
 * @param finalAlphaOne the final ᾱ_prev is 1 (diffusers' set_alpha_to_one, default true) or ᾱ_0
 * @param x0Guard what is done to x̂_0 (diffusers' clip_sample / clip_sample_range and thresholding;
 *     their default clips at 1, this project's default is none: with classifier-free guidance,
 *     clipping x̂_0 while keeping ε̂ ruined the samples, worse with more steps, see
 *     docs/sampling.md)
 */
public record DdimSampler(
    int steps,
    double eta,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean finalAlphaOne,
    X0Guard x0Guard)
    implements Sampler {

  public DdimSampler {
    checkArgument(steps >= 1, "DDIM needs at least 1 step, got %s", steps);
    checkArgument(eta >= 0 && eta <= 1, "DDIM eta must be in [0, 1], got %s", eta);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** DDIM clipping x̂_0 to [-clipX0, clipX0] (0 = off), ε̂ kept. */
  public DdimSampler(
      int steps,
      double eta,
      TimestepSpacing spacing,
      int stepsOffset,
      boolean finalAlphaOne,
      double clipX0) {
    this(steps, eta, spacing, stepsOffset, finalAlphaOne, X0Guard.clip(clipX0));
  }

  /**
   * diffusers' DDIMScheduler defaults with the given steps and η, except that x̂_0 is not clipped
   * (diffusers' {@code clip_sample=False}).
   */
  public static DdimSampler of(int steps, double eta) {
    return new DdimSampler(steps, eta, TimestepSpacing.LEADING, 0, true, X0Guard.none());
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    int trainSteps = schedule.timesteps();
    int[] timesteps = spacing.timesteps(trainSteps, steps, stepsOffset);
    double finalAlphaBar = finalAlphaOne ? 1.0 : schedule.get(Coefficient.ALPHAS_CUMPROD, 0);
    int stride = trainSteps / steps;
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int t : timesteps) {
      // 1-2. previous timestep and its ᾱ
      int tPrev = t - stride;
      double alphaBar = schedule.get(Coefficient.ALPHAS_CUMPROD, t);
      double alphaBarPrev =
          tPrev >= 0 ? schedule.get(Coefficient.ALPHAS_CUMPROD, tPrev) : finalAlphaBar;
      // 4. σ_t
      double variance = (1 - alphaBarPrev) / (1 - alphaBar) * (1 - alphaBar / alphaBarPrev);
      double sigma = eta * Math.sqrt(Math.max(variance, 0));
      // 5. x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z
      double direction = Math.sqrt(Math.max(1 - alphaBarPrev - sigma * sigma, 0));
      plan.step(t, alphaBar, 0, Math.sqrt(alphaBarPrev), direction, 0, sigma)
          .eta(Math.sqrt(Math.max(variance, 0)), 1 - alphaBarPrev);
    }
    String name =
        String.format(
            "ddim(steps=%d, eta=%s, spacing=%s%s, final_alpha=%s%s)",
            steps,
            eta,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            finalAlphaOne ? "1" : "alpha_bar_0",
            x0Guard.active() ? ", x0=" + x0Guard : "");
    return plan.build(name, x0Guard, prediction);
  }
}
