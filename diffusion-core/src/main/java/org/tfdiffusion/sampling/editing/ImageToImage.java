package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.sampling.PlanTable;
import org.tfdiffusion.sampling.RowNoise;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.Trajectory;

/**
 * Image-to-image (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
 * Differential Equations"): the given image x_0 is noised to the level of step k of the sampler's
 * own plan with q(x_t | x_0), and the sampler denoises from there, with any sampler, with or
 * without classifier-free guidance (the loop's model and conditioning are unchanged):
 *
 * <pre>
 *   k = N - min(⌊N · s⌋, N)                                    (see {@link Strength})
 *   x_{t_k} = √ᾱ_{t_k} x_0 + √(1 - ᾱ_{t_k}) ε,  ε per row from (seed_b, 0)       (s &lt; 1)
 *   x_{t_0} = ε                                                                     (s = 1)
 *   then steps k..N-1 of the plan ({@link SamplingPlan#startingAt}), step k + j's z from (seed_b, j + 1)
 * </pre>
 *
 * ᾱ_{t_k} is the level the model sees at step k ({@code plan.alphasCumprod().get(k)}), as
 * diffusers' schedulers' {@code add_noise} at {@code timesteps[k]}. The noise is drawn per row from
 * the row's own seed, so a row's result depends on its seed and its image only. At s = 1 the image
 * is not used and the result is plain sampling of the same seeds.
 *
 * @param strength s
 */
public record ImageToImage(Strength strength) {
  public ImageToImage {
    checkArgument(strength != null, "strength is null: give one in (0, 1]");
  }

  /** Image-to-image at strength s. */
  public static ImageToImage of(double strength) {
    return new ImageToImage(new Strength(strength));
  }

  /**
   * The trajectory that edits {@code image}: its start and the cut plan.
   *
   * @param plan the sampler's full plan (N steps)
   * @param imageShape the model's [H, W, C]
   * @param image x_0, float32 [B, H, W, C] or [1, H, W, C] (one image for every seed), in [-1, 1]
   * @param seeds int64 [B], one per result
   * @throws IllegalArgumentException if the image does not fit the model or the seeds, or if the
   *     strength runs no step of the plan
   */
  public Trajectory trajectory(
      Ops tf, SamplingPlan plan, Shape imageShape, Operand<TFloat32> image, Operand<TInt64> seeds) {
    EditImages.checkImage("init image", image.shape(), imageShape);
    EditImages.checkRows("init image", image.shape(), seeds.shape().get(0));
    int start = strength.startStep(plan.steps());
    if (strength.full()) {
      return Trajectory.sampling(plan, seeds);
    }
    Ops ops = tf.withSubScope("image_to_image");
    Operand<TFloat32> noise =
        RowNoise.normal(ops, seeds, ops.constant(RowNoise.START_COUNTER), imageShape);
    Operand<TFloat32> xt = qSample(ops, plan.alphasCumprod().get(start), image, noise);
    return new Trajectory(plan.startingAt(start), seeds, Optional.of(xt), Optional.empty());
  }

  /**
   * Image-to-image with the strength a run-time input (an export's or a server's request): the loop
   * runs over a table of the plan's N cuts ({@link SamplingPlan#startingAt} k for k = 0..N-1, laid
   * end to end, N (N + 1) / 2 steps in all), from entry {@code k N - k (k - 1) / 2}, for N - k
   * steps, with k computed in the graph by the rule of {@link Strength}. The start is x_{t_k} as
   * above, and pure ε at s = 1 (its coefficients (0, 1)), so every strength gives what {@link
   * #trajectory} gives for it. Build the loop with {@link SamplingLoop#compiled(Ops, Trajectory,
   * SamplingLoop.RuntimeSteps, Shape, SamplingLoop.Model, java.util.Map, java.util.List)}; for DDIM
   * with η at run time, add η to the returned steps.
   *
   * @param strength float64 scalar s: float64 so that ⌊N · s⌋ is the one Java and Python compute
   *     for a decimal s (0.7 as a float32 is 0.69999999, and ⌊10 · 0.69999999⌋ = 6); a run with s
   *     outside (0, 1] or ⌊N · s⌋ = 0 fails with an InvalidArgument error naming the allowed range
   * @param image x_0, float32 [B, H, W, C] or [1, H, W, C]
   * @param seeds int64 [B]
   * @throws IllegalArgumentException if the image does not fit the model or the seeds
   */
  public static AtRuntime atRuntime(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      Operand<TFloat64> strength,
      Operand<TFloat32> image,
      Operand<TInt64> seeds) {
    EditImages.checkImage("init image", image.shape(), imageShape);
    EditImages.checkRows("init image", image.shape(), seeds.shape().get(0));
    checkArgument(
        strength.shape().numDimensions() == 0,
        "the strength must be a float64 scalar, got shape %s",
        strength.shape());
    int n = plan.steps();
    float[] sqrtAlphaBar = new float[n];
    float[] sqrtOneMinusAlphaBar = new float[n];
    for (int k = 0; k < n; k++) {
      double alphaBar = k == 0 ? 0 : plan.alphasCumprod().get(k); // s = 1: x = ε
      sqrtAlphaBar[k] = (float) Math.sqrt(alphaBar);
      sqrtOneMinusAlphaBar[k] = (float) Math.sqrt(1 - alphaBar);
    }
    // the cut that starts at step k runs N - k steps: entry N - k of the table (a sampler without
    // history stores only the whole plan, whose tails the cuts are)
    PlanTable table =
        PlanTable.of(
            plan.name() + ", from step 0.." + (n - 1), count -> plan.startingAt(n - count), n);
    Ops ops = tf.withSubScope("image_to_image");
    // init = min(⌊N s⌋, N), k = N - init, in float64
    Operand<TFloat64> steps = ops.constant((double) n);
    Operand<TFloat64> init = ops.math.minimum(ops.math.floor(ops.math.mul(steps, strength)), steps);
    Operand<TBool> valid =
        ops.math.logicalAnd(
            ops.math.logicalAnd(
                ops.math.greater(strength, ops.constant(0.0)),
                ops.math.lessEqual(strength, ops.constant(1.0))),
            ops.math.greaterEqual(init, ops.constant(1.0)));
    String message =
        String.format(
            "strength must be in (0, 1] and run at least one of the %d steps (at least %s)",
            n, 1.0 / n);
    Operand<TInt32> k =
        ops.withControlDependencies(List.of(ops.assertThat(valid, List.of(ops.constant(message)))))
            .dtypes
            .cast(ops.math.sub(steps, init), TInt32.class);
    Operand<TInt32> count = ops.math.sub(ops.constant(n), k);
    Operand<TInt32> offset =
        ops.gather(ops.constant(table.offsets().toArray()), count, ops.constant(0));
    Operand<TFloat32> noise =
        RowNoise.normal(ops, seeds, ops.constant(RowNoise.START_COUNTER), imageShape);
    Operand<TFloat32> xt =
        ops.math.add(
            ops.math.mul(ops.gather(ops.constant(sqrtAlphaBar), k, ops.constant(0)), image),
            ops.math.mul(
                ops.gather(ops.constant(sqrtOneMinusAlphaBar), k, ops.constant(0)), noise));
    return new AtRuntime(
        new Trajectory(table.plan(), seeds, Optional.of(xt), Optional.empty()),
        new SamplingLoop.RuntimeSteps(offset, count, Optional.empty()),
        k);
  }

  /**
   * An edit whose steps are chosen at run time.
   *
   * @param trajectory its start and its table of plans
   * @param steps where in the table the loop starts and how many steps it runs
   * @param startStep int32 scalar k, the plan step the loop starts at (loop step j runs plan step k
   *     + j)
   */
  public record AtRuntime(
      Trajectory trajectory, SamplingLoop.RuntimeSteps steps, Operand<TInt32> startStep) {}

  /**
   * A sample of q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I): {@code √ᾱ_t x_0 + √(1 - ᾱ_t) ε}, with the
   * two coefficients computed in double and rounded once to float32.
   *
   * @param alphaBar ᾱ_t in (0, 1]
   */
  public static Operand<TFloat32> qSample(
      Ops tf, double alphaBar, Operand<TFloat32> x0, Operand<TFloat32> noise) {
    checkArgument(alphaBar > 0 && alphaBar <= 1, "ᾱ must be in (0, 1], got %s", alphaBar);
    return tf.math.add(
        tf.math.mul(tf.constant((float) Math.sqrt(alphaBar)), x0),
        tf.math.mul(tf.constant((float) Math.sqrt(1 - alphaBar)), noise));
  }
}
