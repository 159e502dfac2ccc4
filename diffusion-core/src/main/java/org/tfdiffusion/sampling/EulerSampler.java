package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Euler's method on the probability-flow ODE in σ (Karras et al. 2022, "Elucidating the Design
 * Space of Diffusion-Based Generative Models", Algorithm 1 without its second-order correction),
 * with the conventions of diffusers' {@code EulerDiscreteScheduler} (s_churn = 0).
 *
 * <pre>
 *   notation: x̂_0 → pred_original_sample, d_i → derivative, σ_i → sigmas[i]
 *   the ODE in x^σ = x_t / √ᾱ_t = x_0 + σ ε:   dx^σ/dσ = (x^σ - x̂_0) / σ = ε̂
 *   1. σ_i, σ_{i+1} from the spacing (σ_N = 0), ᾱ_i = 1 / (1 + σ_i²)
 *   2. x̂_0, ε̂ from the model output at (x_i, t_i)
 *   3. d_i = ε̂;  x^σ_{i+1} = x^σ_i + (σ_{i+1} - σ_i) d_i
 *   in the loop's variance-preserving x = √ᾱ x^σ:
 *      x_{i+1} = √(ᾱ_{i+1}/ᾱ_i) x_i + √ᾱ_{i+1} (σ_{i+1} - σ_i) ε̂
 * </pre>
 *
 * diffusers keeps x^σ and scales the model's input by 1/√(σ² + 1) ({@code scale_model_input}); the
 * loop here keeps that scaled x, so the same model sees the same input. The start x_0 ~ N(0, I) is
 * diffusers' x^σ ~ N(0, σ_0² + 1) ({@code init_noise_sigma} for leading spacing; for linspace and
 * trailing diffusers starts from N(0, σ_0²), a relative difference of 1/(2σ_0²), 2e-5 for the
 * linear schedule). The last step, to σ = 0, returns x̂_0.
 *
 * @param steps N model evaluations
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param sigmaSpacing the σ_i: the timesteps' own, or Karras' or exponential between the first and
 *     the last of them (diffusers' use_karras_sigmas, use_exponential_sigmas)
 */
public record EulerSampler(
    int steps, TimestepSpacing spacing, int stepsOffset, SigmaSpacing sigmaSpacing)
    implements Sampler {

  public EulerSampler {
    checkArgument(steps >= 1, "Euler needs at least 1 step, got %s", steps);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
  }

  /** diffusers' defaults: linspace spacing, the timesteps' own σ. */
  public static EulerSampler of(int steps) {
    return new EulerSampler(steps, TimestepSpacing.LINSPACE, 0, SigmaSpacing.TIMESTEPS);
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    SigmaSteps levels = SigmaSteps.of(schedule, steps, spacing, stepsOffset, sigmaSpacing);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double alphaBar = levels.alphaBar(i);
      double alphaBarNext = levels.alphaBar(i + 1);
      // 3. x_{i+1} = √(ᾱ_{i+1}/ᾱ_i) x_i + √ᾱ_{i+1} (σ_{i+1} - σ_i) ε̂
      double a = Math.sqrt(alphaBarNext / alphaBar);
      double c = Math.sqrt(alphaBarNext) * (sigmas[i + 1] - sigmas[i]);
      plan.step(levels.timesteps()[i], alphaBar, a, 0, c, 0, 0);
    }
    return plan.build(name("euler"), X0Guard.none(), prediction);
  }

  private String name(String kind) {
    return String.format(
        "%s(steps=%d, spacing=%s%s, sigmas=%s)",
        kind,
        steps,
        spacing.configName(),
        stepsOffset > 0 ? ", offset=" + stepsOffset : "",
        sigmaSpacing.configName());
  }
}
