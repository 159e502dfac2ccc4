package org.tfdiffusion.sampling;

import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * The noise levels of diffusers' σ-space schedulers ({@code EulerDiscreteScheduler}, {@code
 * EulerAncestralDiscreteScheduler}, {@code HeunDiscreteScheduler}): the spacing's N timesteps,
 * their σ_i (or {@link SigmaSpacing Karras / exponential} σ between the first and the last of
 * them), and σ_N = 0 after the last step.
 *
 * @param timesteps t_i, the model's timestep at σ_i (the nearest integer timestep for σ that are
 *     not the σ of a timestep)
 * @param sigmas σ_0 &gt; ... &gt; σ_{N-1} &gt; σ_N = 0
 */
record SigmaSteps(int[] timesteps, double[] sigmas) {

  static SigmaSteps of(
      NoiseSchedule schedule,
      int steps,
      TimestepSpacing spacing,
      int stepsOffset,
      SigmaSpacing sigmaSpacing) {
    int[] spaced = spacing.timesteps(schedule.timesteps(), steps, stepsOffset);
    double[] spacedSigmas = new double[steps];
    for (int i = 0; i < steps; i++) {
      spacedSigmas[i] = SigmaSpacing.sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, spaced[i]));
    }
    double[] levels = sigmaSpacing.sigmas(spacedSigmas, spacedSigmas[0], spacedSigmas[steps - 1]);
    int[] timesteps = new int[steps];
    double[] sigmas = new double[steps + 1];
    for (int i = 0; i < steps; i++) {
      sigmas[i] = levels[i];
      timesteps[i] =
          sigmaSpacing == SigmaSpacing.TIMESTEPS
              ? spaced[i]
              : SigmaSpacing.timestepOf(levels[i], schedule);
    }
    return new SigmaSteps(timesteps, sigmas);
  }

  /** ᾱ at σ_i: 1/(1 + σ_i²). */
  double alphaBar(int i) {
    return SigmaSpacing.alphaBar(sigmas[i]);
  }
}
