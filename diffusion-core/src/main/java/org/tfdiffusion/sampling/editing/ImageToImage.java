package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.sampling.RowNoise;
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
    EditImages.checkRows("init image", image.shape(), seeds.shape().size(0));
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
