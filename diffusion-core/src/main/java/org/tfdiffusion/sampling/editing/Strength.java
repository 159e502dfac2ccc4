package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * How far an edit moves away from the given image: the fraction s ∈ (0, 1] of the sampler's steps
 * that run, on the sampler's own timestep grid, as diffusers' image-to-image and inpainting
 * pipelines count it:
 *
 * <pre>
 *   init = min(⌊N · s⌋, N),   k = N - init        (diffusers' get_timesteps)
 *   x_{t_k} = √ᾱ_{t_k} x_0 + √(1 - ᾱ_{t_k}) ε,  ε ~ N(0, I)      (q(x_t | x_0); x_{t_0} = ε at s = 1)
 * </pre>
 *
 * and steps k..N-1 run from there. s = 1 starts from pure noise (the image is not used), so it is
 * plain sampling; a small s keeps the image's layout and changes its details (Meng et al. 2022,
 * "SDEdit").
 *
 * @param value s in (0, 1]
 */
public record Strength(double value) {
  /** s = 1: from pure noise, every step. */
  public static final Strength FULL = new Strength(1);

  public Strength {
    checkArgument(
        value > 0 && value <= 1,
        "strength must be in (0, 1] (1 = start from pure noise, near 0 = stay close to the image),"
            + " got %s",
        value);
  }

  /** Whether s = 1. */
  public boolean full() {
    return value == 1;
  }

  /**
   * k, the first step that runs out of N: {@code N - min(⌊N · s⌋, N)}, with ⌊N · s⌋ computed in
   * double as Python's {@code int(num_inference_steps * strength)}.
   *
   * @throws IllegalArgumentException if no step would run (⌊N · s⌋ = 0)
   */
  public int startStep(int steps) {
    checkArgument(steps >= 1, "a sampler needs at least 1 step, got %s", steps);
    int init = Math.min((int) (steps * value), steps);
    checkArgument(
        init >= 1,
        "strength %s with %s steps runs no step (%s · %s < 1): raise the strength to at least %s"
            + " or the steps to at least %s",
        value,
        steps,
        steps,
        value,
        1.0 / steps,
        (int) Math.ceil(1 / value));
    return steps - init;
  }
}
