package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Heun's second-order method on the probability-flow ODE in σ (Karras et al. 2022, "Elucidating the
 * Design Space of Diffusion-Based Generative Models", section 3 and Algorithm 1, deterministic),
 * with the conventions of diffusers' {@code HeunDiscreteScheduler}: N noise levels, 2N - 1 model
 * evaluations (an Euler step and its correction for each interval, the last interval, to σ = 0,
 * Euler only).
 *
 * <pre>
 *   notation: x^σ = x_t / √ᾱ_t = x_0 + σ ε;  σ_j from the spacing, σ_N = 0, ᾱ = 1 / (1 + σ²)
 *   interval j (σ_j → σ_{j+1}), Δ = σ_{j+1} - σ_j:
 *   1. first order at (x^σ_j, σ_j):        d_1 = (x^σ_j - x̂_0⁽¹⁾) / σ_j,   x̃ = x^σ_j + Δ d_1
 *   2. second order at (x̃, σ_{j+1} &gt; 0):   d_2 = (x̃ - x̂_0⁽²⁾) / σ_{j+1}
 *                                          x^σ_{j+1} = x^σ_j + Δ (d_1 + d_2) / 2
 * </pre>
 *
 * The correction written with the loop's x̂_0 history: as x^σ_j = x̃ - Δ d_1 and d_1 = (x̃ -
 * x̂_0⁽¹⁾) / σ_{j+1},
 *
 * <pre>
 *   x^σ_{j+1} = x̃ - Δ / (2 σ_{j+1}) (x̂_0⁽²⁾ - x̂_0⁽¹⁾)
 * </pre>
 *
 * so plan step 2j is Euler's step and plan step 2j + 1 adds {@code d (x̂_0 - x̂_0^{prev})} to x; in
 * the loop's variance-preserving x = √ᾱ x^σ (diffusers' scaled model input):
 *
 * <pre>
 *   step 2j:      x ← √(ᾱ_{j+1}/ᾱ_j) x + √ᾱ_{j+1} Δ ε̂
 *   step 2j + 1:  x ← x - √ᾱ_{j+1} Δ / (2 σ_{j+1}) (x̂_0 - x̂_0^{prev})
 * </pre>
 *
 * The start x ~ N(0, I) is diffusers' {@code init_noise_sigma} = √(σ_0² + 1). A loop that starts at
 * an odd plan step has no first-order x̂_0 to correct with and skips that correction.
 *
 * @param steps N noise levels (diffusers' num_inference_steps); the model is evaluated 2N - 1 times
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param sigmaSpacing the σ_j (diffusers' use_karras_sigmas, use_exponential_sigmas)
 */
public record HeunSampler(
    int steps, TimestepSpacing spacing, int stepsOffset, SigmaSpacing sigmaSpacing)
    implements Sampler {

  public HeunSampler {
    checkArgument(steps >= 1, "Heun needs at least 1 step, got %s", steps);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
  }

  /** diffusers' defaults: linspace spacing, the timesteps' own σ. */
  public static HeunSampler of(int steps) {
    return new HeunSampler(steps, TimestepSpacing.LINSPACE, 0, SigmaSpacing.TIMESTEPS);
  }

  /** The model evaluations of N noise levels: 2N - 1. */
  public int evaluations() {
    return 2 * steps - 1;
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    SigmaSteps levels = SigmaSteps.of(schedule, steps, spacing, stepsOffset, sigmaSpacing);
    double[] sigmas = levels.sigmas();
    int[] timesteps = levels.timesteps();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int j = 0; j < steps; j++) {
      double alphaBar = levels.alphaBar(j);
      double alphaBarNext = levels.alphaBar(j + 1);
      double delta = sigmas[j + 1] - sigmas[j];
      // 1. Euler to σ_{j+1}
      plan.step(
          timesteps[j],
          alphaBar,
          Math.sqrt(alphaBarNext / alphaBar),
          0,
          Math.sqrt(alphaBarNext) * delta,
          0,
          0);
      if (j < steps - 1) {
        // 2. the correction, evaluated at σ_{j+1}
        double d = -Math.sqrt(alphaBarNext) * delta / (2 * sigmas[j + 1]);
        plan.step(timesteps[j + 1], alphaBarNext, 1, 0, 0, d, 0);
      }
    }
    String name =
        String.format(
            "heun(steps=%d, spacing=%s%s, sigmas=%s)",
            steps,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            sigmaSpacing.configName());
    return plan.build(name, X0Guard.none(), prediction);
  }
}
