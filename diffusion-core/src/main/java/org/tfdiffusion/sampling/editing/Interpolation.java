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
import org.tfdiffusion.sampling.RowNoise;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.Trajectory;

/**
 * A strip of F frames between two seeds' images: the two starting noises x_T^A, x_T^B (each from
 * (seed, 0), as plain sampling draws them) are joined by spherical linear interpolation (Shoemake
 * 1985, "Animating rotation with quaternion curves"), which keeps the norm a Gaussian sample has
 * where a straight line between them would pass through improbably small ones, and every frame is
 * sampled with a deterministic sampler (Song et al. 2021, "DDIM", section 5.3):
 *
 * <pre>
 *   cos θ = ⟨a, b⟩ / (‖a‖ ‖b‖)   over all H·W·C values of an image
 *   slerp(a, b; α) = sin((1 - α) θ) / sin θ · a + sin(α θ) / sin θ · b,   α_f = f / (F - 1)
 *   (|cos θ| &gt; {@value #PARALLEL_COSINE}: (1 - α) a + α b, where sin θ is too small to divide by)
 * </pre>
 *
 * Frame 0 is x_T^A and frame F-1 is x_T^B exactly, so the end frames are the two seeds' own images.
 * The weights are computed in float64.
 *
 * @param frames F &gt;= 2, the two ends included
 */
public record Interpolation(int frames) {
  /** Above this |cos θ| the two noises are taken as parallel and joined by a straight line. */
  public static final double PARALLEL_COSINE = 0.9995;

  public Interpolation {
    checkArgument(
        frames >= 2,
        "interpolation needs at least 2 frames (the two seeds' own images at the ends), got %s",
        frames);
  }

  /**
   * The trajectory of the strip: F rows, frame f starting from slerp(x_T^A, x_T^B; f / (F - 1)).
   * The rows' seeds are all seed A (a deterministic plan draws no noise with them). A
   * class-conditional model needs F labels and guidance scales in its conditioning.
   *
   * @param plan a deterministic plan (DDIM with η = 0, DPM-Solver++)
   * @param imageShape the model's [H, W, C]
   * @param seedA int64 scalar, the first frame's seed
   * @param seedB int64 scalar, the last frame's seed
   * @throws IllegalArgumentException for a plan that draws noise at its steps
   */
  public Trajectory trajectory(
      Ops tf, SamplingPlan plan, Shape imageShape, Operand<TInt64> seedA, Operand<TInt64> seedB) {
    check(plan, seedA, seedB);
    Ops ops = tf.withSubScope("interpolation");
    return strip(
        ops,
        plan,
        imageShape,
        seedA,
        seedB,
        ops.constant(fractions()),
        ops.constant(new int[] {frames}));
  }

  /**
   * The strip with F a run-time input (an export's or a server's request), int32 scalar: α_f = f /
   * (F - 1) computed in float64, so the ends are exactly 0 and 1 and the strip is the one {@link
   * #trajectory} gives for that F. A run with F &lt; 2 fails with an InvalidArgument error.
   *
   * @throws IllegalArgumentException for a plan that draws noise at its steps
   */
  public static Trajectory atRuntime(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      Operand<TInt64> seedA,
      Operand<TInt64> seedB,
      Operand<TInt32> frames) {
    check(plan, seedA, seedB);
    checkArgument(
        frames.shape().numDimensions() == 0,
        "the frame count must be an int32 scalar, got shape %s",
        frames.shape());
    Ops ops = tf.withSubScope("interpolation");
    Operand<TInt32> count =
        ops.withControlDependencies(
                List.of(
                    ops.assertThat(
                        ops.math.greaterEqual(frames, ops.constant(2)),
                        List.of(
                            ops.constant(
                                "interpolation needs at least 2 frames (the two seeds' own images"
                                    + " at the ends)")))))
            .identity(frames);
    Operand<TFloat64> fractions =
        ops.math.div(
            ops.dtypes.cast(ops.range(ops.constant(0), count, ops.constant(1)), TFloat64.class),
            ops.dtypes.cast(ops.math.sub(count, ops.constant(1)), TFloat64.class));
    return strip(
        ops,
        plan,
        imageShape,
        seedA,
        seedB,
        fractions,
        ops.reshape(count, ops.constant(new int[] {1})));
  }

  private static void check(SamplingPlan plan, Operand<TInt64> seedA, Operand<TInt64> seedB) {
    checkArgument(
        !plan.stochastic(),
        "interpolation needs a deterministic sampler, so that each frame depends on its start only;"
            + " %s adds noise at its steps: use ddim with eta 0, dpmpp, euler or heun",
        plan.name());
    checkArgument(
        seedA.shape().numDimensions() == 0 && seedB.shape().numDimensions() == 0,
        "the two seeds must be int64 scalars, got shapes %s and %s",
        seedA.shape(),
        seedB.shape());
  }

  /** The rows: frame f from slerp(x_T^A, x_T^B; fractions[f]), every row's seed seed A. */
  private static Trajectory strip(
      Ops ops,
      SamplingPlan plan,
      Shape imageShape,
      Operand<TInt64> seedA,
      Operand<TInt64> seedB,
      Operand<TFloat64> fractions,
      Operand<TInt32> rows) {
    Operand<TInt32> one = ops.constant(new int[] {1});
    Operand<TFloat32> a =
        RowNoise.normal(
            ops, ops.reshape(seedA, one), ops.constant(RowNoise.START_COUNTER), imageShape);
    Operand<TFloat32> b =
        RowNoise.normal(
            ops, ops.reshape(seedB, one), ops.constant(RowNoise.START_COUNTER), imageShape);
    Operand<TFloat32> start = slerp(ops, a, b, fractions);
    Operand<TInt64> seeds = ops.fill(rows, seedA);
    return new Trajectory(plan, seeds, Optional.of(start), Optional.empty());
  }

  /**
   * slerp(a, b; α) for each fraction α, as above.
   *
   * @param a float32 [1, H, W, C]
   * @param b float32 [1, H, W, C]
   * @param fractions float64 [F], α_f in [0, 1]
   * @return float32 [F, H, W, C]
   */
  public static Operand<TFloat32> slerp(
      Ops tf, Operand<TFloat32> a, Operand<TFloat32> b, Operand<TFloat64> fractions) {
    Operand<TFloat64> a64 = tf.dtypes.cast(a, TFloat64.class);
    Operand<TFloat64> b64 = tf.dtypes.cast(b, TFloat64.class);
    Operand<TFloat64> dot =
        tf.reduceSum(tf.math.mul(a64, b64), tf.constant(new int[] {0, 1, 2, 3}));
    Operand<TFloat64> normA =
        tf.math.sqrt(tf.reduceSum(tf.math.square(a64), tf.constant(new int[] {0, 1, 2, 3})));
    Operand<TFloat64> normB =
        tf.math.sqrt(tf.reduceSum(tf.math.square(b64), tf.constant(new int[] {0, 1, 2, 3})));
    Operand<TFloat64> cos =
        tf.clipByValue(
            tf.math.div(dot, tf.math.mul(normA, normB)), tf.constant(-1.0), tf.constant(1.0));
    Operand<TFloat64> theta = tf.math.acos(cos);
    Operand<TFloat64> sinTheta = tf.math.sin(theta);
    Operand<TFloat64> oneMinus = tf.math.sub(tf.constant(1.0), fractions);
    Operand<TFloat64> slerpA = tf.math.div(tf.math.sin(tf.math.mul(oneMinus, theta)), sinTheta);
    Operand<TFloat64> slerpB = tf.math.div(tf.math.sin(tf.math.mul(fractions, theta)), sinTheta);
    Operand<TBool> parallel = tf.math.greater(tf.math.abs(cos), tf.constant(PARALLEL_COSINE));
    Operand<TBool> each = tf.fill(tf.shape(fractions), parallel);
    Operand<TFloat64> weightA = tf.select(each, oneMinus, slerpA);
    Operand<TFloat64> weightB = tf.select(each, fractions, slerpB);
    Operand<TInt32> column = tf.constant(new int[] {-1, 1, 1, 1});
    Operand<TFloat32> wa = tf.reshape(tf.dtypes.cast(weightA, TFloat32.class), column);
    Operand<TFloat32> wb = tf.reshape(tf.dtypes.cast(weightB, TFloat32.class), column);
    return tf.math.add(tf.math.mul(wa, a), tf.math.mul(wb, b));
  }

  /** The fractions α_f = f / (F - 1), f = 0..F-1: exactly 0 and 1 at the ends. */
  public double[] fractions() {
    double[] out = new double[frames];
    for (int f = 0; f < frames; f++) {
      out[f] = f / (double) (frames - 1);
    }
    return out;
  }
}
