package org.tfdiffusion.distillation;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Denoiser;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Progressive distillation (Salimans &amp; Ho 2022, "Progressive Distillation for Fast Sampling of
 * Diffusion Models", Algorithm 2): a student learns to take in one deterministic DDIM step what its
 * teacher takes in two.
 *
 * <pre>
 *   notation: z_t = α_t x + σ_t ε, α_t = √ᾱ_t, σ_t = √(1 - ᾱ_t);  t → t' → t'' the teacher's
 *             two half-steps; x̂_θ the student's x̂_0; DDIM(z_s, s → u) = α_u x̂_0 + σ_u ε̂
 *             with x̂_0 and ε̂ from the teacher's output at (z_s, s)
 *   1. i ~ U{0, ..., N-1}, t = t_i of the student's N-step DDIM grid; ε ~ N(0, I)
 *   2. z_t  = α_t x + σ_t ε
 *   3. z_t' = DDIM(z_t, t → t'),  z_t'' = DDIM(z_t', t' → t'')          (teacher, 2 evaluations)
 *   4. x̃   = (z_t'' - (σ_t'' / σ_t) z_t) / (α_t'' - (σ_t'' / σ_t) α_t)  (the one-step target)
 *   5. L    = mean_b max(α_t² / σ_t², 1) · mean_pixels (x̃ - x̂_θ(z_t, t))²  ("truncated SNR")
 * </pre>
 *
 * <p>The grid. The student's step i is exactly step i of {@link DdimSampler#of DdimSampler.of(N,
 * 0)}: t_i from leading spacing (i · ⌊T/N⌋), t'' = t_i - ⌊T/N⌋ with ᾱ of the final step 1 (DDIM's
 * {@code set_alpha_to_one}), so that the student samples with a plain {@code --sampler ddim --steps
 * N}. The midpoint is t' = t_i - ⌊T/2N⌋, one stride of the 2N-step DDIM grid: where ⌊T/N⌋ is even
 * (e.g. T = 1000 and N = 4, 16, 4·k+... see docs/distillation.md) the two half-steps are exactly
 * steps of the teacher's 2N-step DDIM grid, otherwise they are one stride and one stride + 1 long.
 * At t_i = 0 there is no timestep between t_i and the final step: the teacher takes that one step
 * (t' = t'' = final, x̃ is the teacher's x̂_0).
 *
 * <p>The student's x̂_0 comes from its own output whatever it predicts (ε, x_0 or v), and so do the
 * teacher's x̂_0 and ε̂; all coefficients are computed in double precision and gathered by i as
 * float32 constants.
 */
public final class ProgressiveDistillation {
  /** Added to the first seed word for the grid index, so its stream differs from the noise's. */
  static final long INDEX_SEED_OFFSET = 0x3C6EF372FE94F82BL;

  /** Added to the first seed word for ε. */
  static final long NOISE_SEED_OFFSET = 0x9E3779B97F4A7C15L;

  private ProgressiveDistillation() {}

  /**
   * One student step of the grid, in double precision.
   *
   * @param t the student's (and the teacher's first) timestep
   * @param tMid t', the teacher's second timestep; negative when the first half-step already ends
   *     at the final ᾱ (at t = 0)
   * @param tEnd t'', the end of the student's step (negative: the final ᾱ, 1)
   * @param alphaBar ᾱ_t
   * @param alphaBarMid ᾱ_t' (1 past timestep 0)
   * @param alphaBarEnd ᾱ_t'' (1 past timestep 0)
   */
  public record Step(
      int t, int tMid, int tEnd, double alphaBar, double alphaBarMid, double alphaBarEnd) {
    /** α_t = √ᾱ_t. */
    public double alpha() {
      return Math.sqrt(alphaBar);
    }

    /** σ_t = √(1 - ᾱ_t). */
    public double sigma() {
      return Math.sqrt(1 - alphaBar);
    }

    public double alphaMid() {
      return Math.sqrt(alphaBarMid);
    }

    public double sigmaMid() {
      return Math.sqrt(1 - alphaBarMid);
    }

    public double alphaEnd() {
      return Math.sqrt(alphaBarEnd);
    }

    public double sigmaEnd() {
      return Math.sqrt(1 - alphaBarEnd);
    }

    /** Whether the teacher takes two half-steps (false at t = 0, where it takes one). */
    public boolean twoHalfSteps() {
      return tMid >= 0;
    }

    /** The truncated-SNR weight max(α_t² / σ_t², 1). */
    public double weight() {
      return Math.max(alphaBar / (1 - alphaBar), 1);
    }

    /** σ_t'' / σ_t. */
    public double sigmaRatio() {
      return sigmaEnd() / sigma();
    }

    /** α_t'' - (σ_t'' / σ_t) α_t, the denominator of x̃ (positive: the SNR falls with t). */
    public double targetDenominator() {
      return alphaEnd() - sigmaRatio() * alpha();
    }
  }

  /**
   * The N steps of the student's grid, in the order DDIM takes them (t descending).
   *
   * @throws IllegalArgumentException when 2N exceeds the schedule's T (the teacher's half-steps
   *     need a timestep between the student's)
   */
  public static List<Step> grid(NoiseSchedule schedule, int studentSteps) {
    int trainSteps = schedule.timesteps();
    checkArgument(
        studentSteps >= 1 && 2 * studentSteps <= trainSteps,
        "a student of %s steps needs a teacher of %s steps, more than the model's %s timesteps",
        studentSteps,
        2 * studentSteps,
        trainSteps);
    // the student's grid is DDIM's: its timesteps and its ᾱ_prev (x0Coef = √ᾱ_prev at η = 0)
    SamplingPlan plan = DdimSampler.of(studentSteps, 0).plan(schedule, Prediction.EPSILON);
    int stride = trainSteps / studentSteps;
    int halfStride = trainSteps / (2 * studentSteps);
    List<Step> steps = new ArrayList<>();
    for (int i = 0; i < plan.steps(); i++) {
      int t = plan.timesteps().get(i);
      double alphaBar = schedule.get(Coefficient.ALPHAS_CUMPROD, t);
      double alphaBarEnd = plan.x0Coef().get(i) * plan.x0Coef().get(i);
      int tEnd = t - stride;
      int tMid = t - halfStride;
      double alphaBarMid;
      if (tMid >= 0) {
        alphaBarMid = schedule.get(Coefficient.ALPHAS_CUMPROD, tMid);
      } else {
        // the first half-step ends at the final ᾱ: the second one is no step
        tMid = -1;
        alphaBarMid = alphaBarEnd;
      }
      steps.add(new Step(t, tMid, tEnd, alphaBar, alphaBarMid, alphaBarEnd));
    }
    return List.copyOf(steps);
  }

  /**
   * The tensors of one loss evaluation.
   *
   * @param value the scalar loss
   * @param index i, the grid step of each row, int32 [B]
   * @param t t_i of each row, int32 [B]
   * @param noise ε, like x
   * @param zt z_t
   * @param target x̃, the teacher's one-step target (no gradient flows into it)
   * @param studentX0 the student's x̂_0
   * @param weight max(SNR, 1) of each row, float32 [B]
   */
  public record Loss(
      Operand<TFloat32> value,
      Operand<TInt32> index,
      Operand<TInt32> t,
      Operand<TFloat32> noise,
      Operand<TFloat32> zt,
      Operand<TFloat32> target,
      Operand<TFloat32> studentX0,
      Operand<TFloat32> weight) {}

  /**
   * The distillation loss of one batch, its randomness (i and ε) drawn statelessly from {@code
   * seed} (int64 [2]), so that a resumed run continues exactly.
   *
   * @param teacher the teacher's network (its weights frozen; guided, if at all, inside)
   * @param student the student's network
   * @param x the batch of data, [B, H, W, C]
   */
  public static Loss loss(
      Ops tf,
      List<Step> grid,
      Denoiser teacher,
      Prediction teacherPrediction,
      Denoiser student,
      Prediction studentPrediction,
      Operand<TFloat32> x,
      Operand<TInt64> seed) {
    Ops d = tf.withSubScope("distillation");
    int n = grid.size();
    Operand<TInt32> batch =
        d.reshape(d.shape.size(d.shape(x), d.constant(0)), d.constant(new int[] {1}));
    Operand<TInt32> index =
        d.random.statelessRandomUniformInt(
            batch,
            d.math.add(seed, d.constant(new long[] {INDEX_SEED_OFFSET, 0L})),
            d.constant(0),
            d.constant(n));
    Operand<TFloat32> noise =
        d.random.statelessRandomNormal(
            d.shape(x),
            d.math.add(seed, d.constant(new long[] {NOISE_SEED_OFFSET, 0L})),
            TFloat32.class);
    Tables c = new Tables(d, grid, index);
    // 2. z_t = α_t x + σ_t ε
    Operand<TFloat32> zt = d.math.add(d.math.mul(c.alpha, x), d.math.mul(c.sigma, noise));
    // 3. the teacher's two DDIM half-steps
    Operand<TFloat32> out1 = teacher.apply(zt, c.t);
    Operand<TFloat32> zMid =
        ddim(d, teacherPrediction, zt, out1, c.alpha, c.sigma, c.alphaMid, c.sigmaMid);
    Operand<TFloat32> out2 = teacher.apply(zMid, c.tMid);
    Operand<TFloat32> zEnd =
        d.select(
            d.broadcastTo(c.twoHalfSteps, d.shape(zMid)),
            ddim(d, teacherPrediction, zMid, out2, c.alphaMid, c.sigmaMid, c.alphaEnd, c.sigmaEnd),
            zMid);
    // 4. x̃ = (z_t'' - (σ_t'' / σ_t) z_t) / (α_t'' - (σ_t'' / σ_t) α_t)
    Operand<TFloat32> target =
        d.stopGradient(d.math.div(d.math.sub(zEnd, d.math.mul(c.sigmaRatio, zt)), c.denominator));
    // 5. the student's x̂_0 and the weighted squared error
    Operand<TFloat32> studentX0 =
        x0(d, studentPrediction, zt, student.apply(zt, c.t), c.alpha, c.sigma);
    Operand<TFloat32> error = d.math.squaredDifference(target, studentX0);
    Operand<TFloat32> perRow =
        d.math.mean(error, d.range(d.constant(1), d.rank(error), d.constant(1)));
    Operand<TFloat32> weight = d.reshape(c.weight, d.constant(new int[] {-1}));
    Operand<TFloat32> value = d.math.mean(d.math.mul(weight, perRow), d.constant(0));
    return new Loss(value, index, c.t, noise, zt, target, studentX0, weight);
  }

  /** One deterministic DDIM step from (z_s, s) to u: {@code α_u x̂_0 + σ_u ε̂}. */
  private static Operand<TFloat32> ddim(
      Ops tf,
      Prediction prediction,
      Operand<TFloat32> z,
      Operand<TFloat32> output,
      Operand<TFloat32> alpha,
      Operand<TFloat32> sigma,
      Operand<TFloat32> alphaTo,
      Operand<TFloat32> sigmaTo) {
    Operand<TFloat32> x0 = x0(tf, prediction, z, output, alpha, sigma);
    Operand<TFloat32> eps = eps(tf, prediction, z, output, alpha, sigma);
    return tf.math.add(tf.math.mul(alphaTo, x0), tf.math.mul(sigmaTo, eps));
  }

  /** x̂_0 of a model output: (z - σ ε̂) / α, the output itself, or α z - σ v. */
  static Operand<TFloat32> x0(
      Ops tf,
      Prediction prediction,
      Operand<TFloat32> z,
      Operand<TFloat32> output,
      Operand<TFloat32> alpha,
      Operand<TFloat32> sigma) {
    return switch (prediction) {
      case EPSILON -> tf.math.div(tf.math.sub(z, tf.math.mul(sigma, output)), alpha);
      case SAMPLE -> output;
      case V_PREDICTION -> tf.math.sub(tf.math.mul(alpha, z), tf.math.mul(sigma, output));
    };
  }

  /** ε̂ of a model output: the output itself, (z - α x̂_0) / σ, or σ z + α v. */
  static Operand<TFloat32> eps(
      Ops tf,
      Prediction prediction,
      Operand<TFloat32> z,
      Operand<TFloat32> output,
      Operand<TFloat32> alpha,
      Operand<TFloat32> sigma) {
    return switch (prediction) {
      case EPSILON -> output;
      case SAMPLE -> tf.math.div(tf.math.sub(z, tf.math.mul(alpha, output)), sigma);
      case V_PREDICTION -> tf.math.add(tf.math.mul(sigma, z), tf.math.mul(alpha, output));
    };
  }

  /** The grid's per-step values gathered by each row's index, shaped to broadcast over images. */
  private static final class Tables {
    final Operand<TInt32> t;
    final Operand<TInt32> tMid;
    final Operand<TBool> twoHalfSteps;
    final Operand<TFloat32> alpha;
    final Operand<TFloat32> sigma;
    final Operand<TFloat32> alphaMid;
    final Operand<TFloat32> sigmaMid;
    final Operand<TFloat32> alphaEnd;
    final Operand<TFloat32> sigmaEnd;
    final Operand<TFloat32> sigmaRatio;
    final Operand<TFloat32> denominator;
    final Operand<TFloat32> weight;

    Tables(Ops tf, List<Step> grid, Operand<TInt32> index) {
      int n = grid.size();
      int[] ts = new int[n];
      int[] mids = new int[n];
      boolean[] two = new boolean[n];
      for (int i = 0; i < n; i++) {
        Step s = grid.get(i);
        ts[i] = s.t();
        // at t = 0 the second evaluation's result is not used: any valid timestep will do
        mids[i] = Math.max(s.tMid(), 0);
        two[i] = s.twoHalfSteps();
      }
      Operand<TInt32> zero = tf.constant(0);
      this.t = tf.gather(tf.constant(ts), index, zero);
      this.tMid = tf.gather(tf.constant(mids), index, zero);
      this.twoHalfSteps =
          tf.reshape(
              tf.gather(tf.constant(two), index, zero), tf.constant(new int[] {-1, 1, 1, 1}));
      this.alpha = column(tf, grid, Step::alpha, index);
      this.sigma = column(tf, grid, Step::sigma, index);
      this.alphaMid = column(tf, grid, Step::alphaMid, index);
      this.sigmaMid = column(tf, grid, Step::sigmaMid, index);
      this.alphaEnd = column(tf, grid, Step::alphaEnd, index);
      this.sigmaEnd = column(tf, grid, Step::sigmaEnd, index);
      this.sigmaRatio = column(tf, grid, Step::sigmaRatio, index);
      this.denominator = column(tf, grid, Step::targetDenominator, index);
      this.weight = column(tf, grid, Step::weight, index);
    }

    private static Operand<TFloat32> column(
        Ops tf,
        List<Step> grid,
        java.util.function.ToDoubleFunction<Step> value,
        Operand<TInt32> index) {
      float[] table = new float[grid.size()];
      for (int i = 0; i < table.length; i++) {
        table[i] = (float) value.applyAsDouble(grid.get(i));
      }
      return tf.reshape(
          tf.gather(tf.constant(table), index, tf.constant(0)),
          tf.constant(new int[] {-1, 1, 1, 1}));
    }
  }
}
