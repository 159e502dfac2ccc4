package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * What a sampling loop runs ({@link SamplingLoop#compiled(org.tensorflow.op.Ops, Trajectory, Shape,
 * SamplingLoop.Model, java.util.Map, java.util.List, int)}, {@link HostLoop}): the steps of a plan,
 * the rows' seeds, where x starts and what is done to x after each step.
 *
 * <pre>
 *   x ← start                           (default: x_T ~ N(0, I) per row from (seed_b, 0))
 *   for k in 0..K-1:
 *     x, x̂_0 ← step_k(x, model(x, t_k), z_k, x̂_0^{prev})    z_k per row from (seed_b, k + 1)
 *     x ← afterStep_k(x)                 (default: x)
 * </pre>
 *
 * Plain sampling is {@link #sampling}; {@link #startingAt} starts from a given x_t at step k of any
 * plan; the editing modes ({@code org.tfdiffusion.sampling.editing}) build the others.
 *
 * @param plan the steps to run (for a start at step k: {@link SamplingPlan#startingAt})
 * @param seeds int64 [B], one per row: the rows' noise draws depend on their own seed only
 * @param start x before the first step, float32 [B, H, W, C] (or [1, H, W, C], broadcast to the
 *     rows); empty for x_T ~ N(0, I)
 * @param afterStep applied to x after every step; empty for none
 */
public record Trajectory(
    SamplingPlan plan,
    Operand<TInt64> seeds,
    Optional<Operand<TFloat32>> start,
    Optional<StepHook> afterStep) {

  public Trajectory {
    checkArgument(plan != null, "the trajectory's plan is null");
    checkArgument(seeds != null, "the trajectory's seeds are null: give one int64 seed per row");
    checkArgument(
        seeds.shape().numDimensions() == 1,
        "seeds must be a vector, one int64 per row, got shape %s",
        seeds.shape());
    start = start == null ? Optional.empty() : start;
    afterStep = afterStep == null ? Optional.empty() : afterStep;
    start.ifPresent(
        x ->
            checkArgument(
                x.shape().numDimensions() == 4,
                "the start x must be [B, H, W, C], got shape %s",
                x.shape()));
  }

  /** Plain sampling: x_T ~ N(0, I) per row, all steps of {@code plan}. */
  public static Trajectory sampling(SamplingPlan plan, Operand<TInt64> seeds) {
    return new Trajectory(plan, seeds, Optional.empty(), Optional.empty());
  }

  /**
   * Starts from a given x_t at step k of {@code plan}: the loop runs the steps k..N-1 of {@link
   * SamplingPlan#startingAt its cut} (the multistep history reset there), so with x_t a sample of
   * the noise level the model sees at step k, ᾱ_{t_k} = {@code plan.alphasCumprod().get(k)}, the
   * result is the plan's own continuation from that point. Step k + j draws its noise z from
   * (seed_b, j + 1).
   *
   * @param xt float32 [B, H, W, C] (or [1, H, W, C])
   * @param step k in [0, N)
   * @throws IllegalArgumentException if k is outside [0, N)
   */
  public static Trajectory startingAt(
      SamplingPlan plan, int step, Operand<TFloat32> xt, Operand<TInt64> seeds) {
    return new Trajectory(plan.startingAt(step), seeds, Optional.of(xt), Optional.empty());
  }

  /** This trajectory with {@code hook} applied after every step. */
  public Trajectory withAfterStep(StepHook hook) {
    return new Trajectory(plan, seeds, start, Optional.of(hook));
  }

  /**
   * Checks that the start x fits images of {@code imageShape} [H, W, C].
   *
   * @throws IllegalArgumentException naming the given and the expected size
   */
  void checkStartFits(Shape imageShape) {
    start.ifPresent(
        x -> {
          Shape s = x.shape();
          for (int d = 0; d < 3; d++) {
            long given = s.get(d + 1);
            checkArgument(
                given == Shape.UNKNOWN_SIZE || given == imageShape.get(d),
                "the start x is %s but the model makes [B, %s, %s, %s] images: give x of the"
                    + " model's image size and channels",
                s,
                imageShape.get(0),
                imageShape.get(1),
                imageShape.get(2));
          }
        });
  }
}
