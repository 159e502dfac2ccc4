package org.tfdiffusion.api;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Optional;

/**
 * What to generate: one image per seed, optionally of one class with a guidance scale, with a
 * number of sampler steps. Immutable; start with {@link #of} and refine with the {@code with}
 * methods.
 *
 * @param seeds one image per seed
 * @param className the class (name or index) of every image, for class-conditional models
 * @param guidance the guidance scale w (0 unconditional, 1 conditional, above 1 stronger); empty:
 *     the model's default
 * @param steps sampler steps; empty: the model's default (20 for DPM-Solver++; a distilled model's
 *     DDIM steps)
 */
public record Request(
    long[] seeds, Optional<String> className, Optional<Double> guidance, Optional<Integer> steps) {
  public Request {
    checkArgument(seeds != null && seeds.length >= 1, "a request needs at least one seed");
    seeds = seeds.clone();
    guidance.ifPresent(
        w -> checkArgument(w >= 0 && Double.isFinite(w), "guidance must be >= 0, got %s", w));
    steps.ifPresent(n -> checkArgument(n >= 1, "steps must be >= 1, got %s", n));
  }

  /** One image per seed, the model's defaults for everything else. */
  public static Request of(long... seeds) {
    return new Request(seeds, Optional.empty(), Optional.empty(), Optional.empty());
  }

  /** These images of one class, given by name ("Trouser") or index ("1"). */
  public Request withClass(String name) {
    return new Request(seeds, Optional.of(name), guidance, steps);
  }

  /** These images with guidance scale w. */
  public Request withGuidance(double w) {
    return new Request(seeds, className, Optional.of(w), steps);
  }

  /** These images with {@code n} sampler steps. */
  public Request withSteps(int n) {
    return new Request(seeds, className, guidance, Optional.of(n));
  }

  @Override
  public long[] seeds() {
    return seeds.clone();
  }
}
