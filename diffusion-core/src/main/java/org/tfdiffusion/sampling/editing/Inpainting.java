package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.sampling.RowNoise;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.StepHook;
import org.tfdiffusion.sampling.Trajectory;

/**
 * Inpainting: the pixels where the mask m is 0 are kept from the given image x_0, those where it is
 * 1 are generated to agree with them. After every step the known region is replaced by a sample of
 * q(x_t | x_0) at the noise level the next step's model sees, as RePaint (Lugmayr et al. 2022,
 * Algorithm 1, lines 5 and 8) and diffusers' pixel-space inpainting do; after the last step that
 * level is ᾱ = 1 and the known pixels are x_0 exactly:
 *
 * <pre>
 *   loop step k runs plan step i (i = k + start without resampling)
 *   ᾱ_next,i = ᾱ_{t_{i+1}} for i &lt; N-1,  1 for i = N-1
 *   x ← step_i(x)                                                   (any sampler)
 *   x ← m ⊙ x + (1 - m) ⊙ (√ᾱ_next,i x_0 + √(1 - ᾱ_next,i) ε_k),   ε_k per row from
 *                                                                 (seed_b, KNOWN_REGION + k)
 * </pre>
 *
 * With {@link Resampling} the steps follow RePaint's path; after a step that the path leaves by a
 * jump back to step j, the whole sample is noised from ᾱ_next,i up to j's level with the forward
 * process,
 *
 * <pre>
 *   q(x_{t_j} | x) = N(√(ᾱ_{t_j} / ᾱ_next,i) x, (1 - ᾱ_{t_j} / ᾱ_next,i) I),   noise per row from
 *                                                                 (seed_b, RESAMPLING + k)
 * </pre>
 *
 * (RePaint's line 10 over the jump's steps in one draw), and the multistep history restarts there
 * (DPM-Solver++ takes the next step at first order). The start is x_T ~ N(0, I) per row from
 * (seed_b, 0) at strength 1 (RePaint), or the whole image noised to step k at a lower strength, as
 * {@link ImageToImage}. The mask may be soft: values between 0 and 1 blend the two.
 *
 * @param strength s: 1 regenerates the masked region from pure noise
 * @param resampling RePaint's jumps back, or {@link Resampling#none()}
 */
public record Inpainting(Strength strength, Resampling resampling) {
  public Inpainting {
    checkArgument(strength != null, "strength is null: give one in (0, 1] (1 for inpainting)");
    checkArgument(resampling != null, "resampling is null: give Resampling.none() for none");
  }

  /** Inpainting from pure noise, every step run once. */
  public static Inpainting plain() {
    return new Inpainting(Strength.FULL, Resampling.none());
  }

  /** Inpainting from pure noise with RePaint's resampling. */
  public static Inpainting withResampling(Resampling resampling) {
    return new Inpainting(Strength.FULL, resampling);
  }

  /**
   * The plan steps run, in order (see {@link Resampling#path}).
   *
   * @throws IllegalArgumentException if the strength runs no step or no jump fits
   */
  public int[] path(SamplingPlan plan) {
    int start = strength.startStep(plan.steps());
    return resampling.path(plan.steps(), start);
  }

  /**
   * The trajectory that inpaints {@code image}.
   *
   * @param plan the sampler's full plan (N steps)
   * @param imageShape the model's [H, W, C]
   * @param image x_0, float32 [B, H, W, C] or [1, H, W, C] (one image for every seed), in [-1, 1]
   * @param mask float32 [B or 1, H, W, 1 or C] in [0, 1]: 1 = regenerate, 0 = keep
   * @param seeds int64 [B], one per result
   * @throws IllegalArgumentException if the image does not fit the model or the seeds, the mask
   *     does not fit the image, the strength runs no step, or no jump back fits
   */
  public Trajectory trajectory(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      Operand<TFloat32> image,
      Operand<TFloat32> mask,
      Operand<TInt64> seeds) {
    EditImages.checkImage("image to inpaint", image.shape(), imageShape);
    EditImages.checkRows("image to inpaint", image.shape(), seeds.shape().get(0));
    EditImages.checkMask(mask.shape(), image.shape());
    int start = strength.startStep(plan.steps());
    int[] path = resampling.path(plan.steps(), start);
    SamplingPlan walked =
        resampling.active()
            ? plan.onPath(
                String.format(
                    "%s, RePaint jump %s x %s",
                    plan.name(), resampling.jumpLength(), resampling.count()),
                path)
            : plan.startingAt(start);
    Optional<Operand<TFloat32>> x;
    if (strength.full()) {
      x = Optional.empty();
    } else {
      Ops ops = tf.withSubScope("inpainting_start");
      Operand<TFloat32> noise =
          RowNoise.normal(ops, seeds, ops.constant(RowNoise.START_COUNTER), imageShape);
      x = Optional.of(ImageToImage.qSample(ops, plan.alphasCumprod().get(start), image, noise));
    }
    return new Trajectory(
        walked, seeds, x, Optional.of(new KnownRegion(plan, path, imageShape, image, mask)));
  }

  /**
   * Inpainting with the strength a run-time input (an export's or a server's request), without
   * resampling: the start and the steps are {@link ImageToImage#atRuntime}'s for the same strength
   * (x_T ~ N(0, I) at s = 1, the image noised to step k below), and after loop step j, which runs
   * plan step i = k + j, the known region is pasted at ᾱ_next,i as in {@link #trajectory}:
   *
   * <pre>
   *   x ← m ⊙ x + (1 - m) ⊙ (√ᾱ_next,i x_0 + √(1 - ᾱ_next,i) ε_j),   ε_j per row from
   *                                                                 (seed_b, KNOWN_REGION + j)
   * </pre>
   *
   * with ᾱ_next,i read from a table over the plan's N steps at k + j. Every strength gives what
   * {@code new Inpainting(new Strength(s), Resampling.none()).trajectory(...)} gives for it. Build
   * the loop with {@code SamplingLoop.compiled(tf, edit.trajectory(), edit.steps(), ...)}.
   *
   * @param strength float64 scalar s (see {@link ImageToImage#atRuntime}); a run with s outside (0,
   *     1] or ⌊N · s⌋ = 0 fails with an InvalidArgument error naming the allowed range
   * @param image x_0, float32 [B, H, W, C] or [1, H, W, C], in [-1, 1]
   * @param mask float32 [B or 1, H, W, 1 or C] in [0, 1]: 1 = regenerate, 0 = keep
   * @param seeds int64 [B]
   * @throws IllegalArgumentException if the image does not fit the model or the seeds, or the mask
   *     does not fit the image
   */
  public static ImageToImage.AtRuntime atRuntime(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      Operand<org.tensorflow.types.TFloat64> strength,
      Operand<TFloat32> image,
      Operand<TFloat32> mask,
      Operand<TInt64> seeds) {
    EditImages.checkImage("image to inpaint", image.shape(), imageShape);
    EditImages.checkRows("image to inpaint", image.shape(), seeds.shape().get(0));
    EditImages.checkMask(mask.shape(), image.shape());
    ImageToImage.AtRuntime start =
        ImageToImage.atRuntime(tf, plan, imageShape, strength, image, seeds);
    int[] everyStep = new int[plan.steps()];
    for (int i = 0; i < everyStep.length; i++) {
      everyStep[i] = i;
    }
    KnownRegion hook =
        new KnownRegion(plan, everyStep, imageShape, image, mask, Optional.of(start.startStep()));
    return new ImageToImage.AtRuntime(
        start.trajectory().withAfterStep(hook), start.steps(), start.startStep());
  }

  /**
   * ᾱ_next,i: the level the model sees at step i + 1, 1 after the last step.
   *
   * @param plan the full plan
   */
  public static double levelAfter(SamplingPlan plan, int step) {
    return step + 1 < plan.steps() ? plan.alphasCumprod().get(step + 1) : 1;
  }

  /**
   * The hook: the known region pasted after each step, then the jump back if the path jumps. Its
   * tables are indexed by the loop step k, or by {@code firstStep + k} when the path starts at a
   * run-time step (the tables then cover the whole plan, without jumps).
   */
  private static final class KnownRegion implements StepHook {
    private final float[] sqrtLevel;
    private final float[] sqrtOneMinusLevel;
    private final float[] jumpScale;
    private final float[] jumpNoise;
    private final boolean jumps;
    private final Shape imageShape;
    private final List<Operand<?>> inputs;
    private final boolean offset;

    KnownRegion(
        SamplingPlan plan,
        int[] path,
        Shape imageShape,
        Operand<TFloat32> image,
        Operand<TFloat32> mask) {
      this(plan, path, imageShape, image, mask, Optional.empty());
    }

    KnownRegion(
        SamplingPlan plan,
        int[] path,
        Shape imageShape,
        Operand<TFloat32> image,
        Operand<TFloat32> mask,
        Optional<Operand<TInt32>> firstStep) {
      int n = path.length;
      this.sqrtLevel = new float[n];
      this.sqrtOneMinusLevel = new float[n];
      this.jumpScale = new float[n];
      this.jumpNoise = new float[n];
      boolean anyJump = false;
      for (int k = 0; k < n; k++) {
        double level = levelAfter(plan, path[k]);
        sqrtLevel[k] = (float) Math.sqrt(level);
        sqrtOneMinusLevel[k] = (float) Math.sqrt(1 - level);
        jumpScale[k] = 1;
        if (k + 1 < n && path[k + 1] != path[k] + 1) {
          // q(x_{t_j} | x at ᾱ_next,i): ratio ᾱ_{t_j} / ᾱ_next,i
          double ratio = plan.alphasCumprod().get(path[k + 1]) / level;
          checkArgument(
              ratio <= 1,
              "a path may only jump back to noisier steps: step %s after step %s",
              path[k + 1],
              path[k]);
          jumpScale[k] = (float) Math.sqrt(ratio);
          jumpNoise[k] = (float) Math.sqrt(1 - ratio);
          anyJump = true;
        }
      }
      this.jumps = anyJump;
      this.imageShape = imageShape;
      this.offset = firstStep.isPresent();
      this.inputs =
          firstStep
              .<List<Operand<?>>>map(f -> List.of(image, mask, f))
              .orElse(List.of(image, mask));
    }

    @Override
    public List<Operand<?>> inputs() {
      return inputs;
    }

    @Override
    public Operand<TFloat32> apply(
        Ops tf,
        Operand<TInt32> k,
        Operand<TFloat32> x,
        Operand<TInt64> seeds,
        List<Operand<?>> in) {
      Ops ops = tf.withSubScope("inpainting");
      @SuppressWarnings("unchecked")
      Operand<TFloat32> image = (Operand<TFloat32>) in.get(0);
      @SuppressWarnings("unchecked")
      Operand<TFloat32> mask = (Operand<TFloat32>) in.get(1);
      Operand<TInt64> counter = ops.dtypes.cast(k, TInt64.class);
      @SuppressWarnings("unchecked")
      Operand<TInt32> row = offset ? ops.math.add((Operand<TInt32>) in.get(2), k) : k;
      // known = √ᾱ_next x_0 + √(1 - ᾱ_next) ε_k
      Operand<TFloat32> eps =
          RowNoise.normal(
              ops,
              seeds,
              ops.math.add(ops.constant(RowNoise.KNOWN_REGION_COUNTERS), counter),
              imageShape);
      Operand<TFloat32> known =
          ops.math.add(
              ops.math.mul(at(ops, sqrtLevel, row), image),
              ops.math.mul(at(ops, sqrtOneMinusLevel, row), eps));
      // m ⊙ x + (1 - m) ⊙ known
      Operand<TFloat32> keep = ops.math.sub(ops.constant(1f), mask);
      Operand<TFloat32> pasted = ops.math.add(ops.math.mul(mask, x), ops.math.mul(keep, known));
      if (!jumps) {
        return pasted;
      }
      // a jump back: √(ᾱ_{t_j} / ᾱ_next) x + √(1 - ᾱ_{t_j} / ᾱ_next) ζ_k; (1, 0) elsewhere
      Operand<TFloat32> zeta =
          RowNoise.normal(
              ops,
              seeds,
              ops.math.add(ops.constant(RowNoise.RESAMPLING_COUNTERS), counter),
              imageShape);
      return ops.math.add(
          ops.math.mul(at(ops, jumpScale, k), pasted), ops.math.mul(at(ops, jumpNoise, k), zeta));
    }

    private static Operand<TFloat32> at(Ops tf, float[] table, Operand<TInt32> k) {
      return tf.gather(tf.constant(table), k, tf.constant(0));
    }
  }
}
