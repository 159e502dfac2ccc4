package org.tfdiffusion.sampling;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * A sampling algorithm with its settings (an immutable value). It fixes the whole timestep plan and
 * the update coefficients in double precision before anything runs; {@link SamplerStep} then
 * applies one step as a pure graph function of (x_t, model output, step index, noise).
 */
public interface Sampler {
  /**
   * The plan for a model trained on {@code schedule} whose network outputs {@code prediction}.
   *
   * @throws IllegalArgumentException if the settings do not fit the schedule (e.g. more steps than
   *     training timesteps)
   */
  SamplingPlan plan(NoiseSchedule schedule, Prediction prediction);
}
