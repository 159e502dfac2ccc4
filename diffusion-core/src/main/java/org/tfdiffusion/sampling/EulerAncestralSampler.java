package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Euler ancestral: an Euler step down to σ_down followed by fresh noise up to σ_{i+1}, so that the
 * marginal at σ_{i+1} is the DDPM ancestral step's (Karras et al. 2022, section 4; Crowson's
 * k-diffusion {@code sample_euler_ancestral}), with the conventions of diffusers' {@code
 * EulerAncestralDiscreteScheduler}.
 *
 * <pre>
 *   notation: x^σ = x_t / √ᾱ_t = x_0 + σ ε;  σ_i from the spacing, σ_N = 0, ᾱ_i = 1 / (1 + σ_i²)
 *   1. σ_up = √(σ_{i+1}² (σ_i² - σ_{i+1}²) / σ_i²),  σ_down = √(σ_{i+1}² - σ_up²)
 *   2. x̂_0, ε̂ from the model output at (x_i, t_i); d_i = (x^σ_i - x̂_0) / σ_i = ε̂
 *   3. x^σ_{i+1} = x^σ_i + (σ_down - σ_i) d_i + σ_up z,  z ~ N(0, I)
 *   in the loop's variance-preserving x = √ᾱ x^σ:
 *      x_{i+1} = √(ᾱ_{i+1}/ᾱ_i) x_i + √ᾱ_{i+1} (σ_down - σ_i) ε̂ + √ᾱ_{i+1} σ_up z
 * </pre>
 *
 * The loop keeps diffusers' model input x^σ / √(σ² + 1) and starts from N(0, I), diffusers' {@code
 * init_noise_sigma} = √(σ_0² + 1). The last step (σ_{i+1} = 0) draws no noise and returns x̂_0.
 * diffusers' scheduler takes only the timesteps' own σ; Karras or exponential σ are k-diffusion's
 * {@code sample_euler_ancestral} on those schedules.
 *
 * @param steps N model evaluations
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param sigmaSpacing the σ_i
 */
public record EulerAncestralSampler(
    int steps, TimestepSpacing spacing, int stepsOffset, SigmaSpacing sigmaSpacing)
    implements Sampler {

  public EulerAncestralSampler {
    checkArgument(steps >= 1, "Euler ancestral needs at least 1 step, got %s", steps);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
  }

  /** diffusers' defaults: linspace spacing, the timesteps' own σ. */
  public static EulerAncestralSampler of(int steps) {
    return new EulerAncestralSampler(steps, TimestepSpacing.LINSPACE, 0, SigmaSpacing.TIMESTEPS);
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    SigmaSteps levels = SigmaSteps.of(schedule, steps, spacing, stepsOffset, sigmaSpacing);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double sigma = sigmas[i];
      double sigmaNext = sigmas[i + 1];
      // 1. σ_up, σ_down
      double sigmaUp =
          Math.sqrt(
              sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma));
      double sigmaDown = Math.sqrt(Math.max(sigmaNext * sigmaNext - sigmaUp * sigmaUp, 0));
      // 3. in the variance-preserving x
      double alphaBar = levels.alphaBar(i);
      double scaleNext = Math.sqrt(levels.alphaBar(i + 1));
      double a = scaleNext / Math.sqrt(alphaBar);
      double c = scaleNext * (sigmaDown - sigma);
      double s = scaleNext * sigmaUp;
      plan.step(levels.timesteps()[i], alphaBar, a, 0, c, 0, s);
    }
    String name =
        String.format(
            "euler-ancestral(steps=%d, spacing=%s%s, sigmas=%s)",
            steps,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            sigmaSpacing.configName());
    return plan.build(name, X0Guard.none(), prediction);
  }
}
