package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Group normalization (Wu &amp; He 2018) over NHWC, as PyTorch's {@code nn.GroupNorm}:
 *
 * <pre>
 *   y = (x - E_g[x]) / √(Var_g[x] + ε) · γ + β
 * </pre>
 *
 * where the mean and the (biased) variance run over H, W and the C/G channels of each group g.
 * Weights {@code weight} (γ, ones) and {@code bias} (β, zeros), both [C].
 */
public final class GroupNorm {
  /** PyTorch's default ε. */
  public static final float EPSILON = 1e-5f;

  private GroupNorm() {}

  /**
   * Normalizes x [B, H, W, C] in {@code groups} groups.
   *
   * @throws IllegalArgumentException if C is not divisible by {@code groups} or H, W are unknown
   */
  public static Operand<TFloat32> apply(
      NetScope scope, Operand<TFloat32> x, int channels, int groups) {
    checkArgument(
        channels % groups == 0,
        "group norm at %s: %s channels are not divisible by %s groups",
        scope.path(),
        channels,
        groups);
    Shape shape = x.shape();
    checkArgument(
        shape.numDimensions() == 4 && shape.size(1) > 0 && shape.size(2) > 0,
        "group norm at %s needs static height and width, got %s",
        scope.path(),
        shape);
    Ops tf = scope.tf();
    long h = shape.size(1);
    long w = shape.size(2);
    Operand<TFloat32> gamma = scope.param("weight", Shape.of(channels), Initializer.constant(1));
    Operand<TFloat32> beta = scope.param("bias", Shape.of(channels), Initializer.constant(0));
    Operand<TFloat32> grouped =
        tf.reshape(x, tf.constant(new long[] {-1, h, w, groups, channels / groups}));
    Operand<TInt32> axes = tf.constant(new int[] {1, 2, 4});
    Operand<TFloat32> mean = tf.math.mean(grouped, axes, Mean.keepDims(true));
    if (scope.nativeConvolutions()) {
      // y = x·a + b with a = γ / √(Var + ε) and b = β - E[x]·a per image and channel
      // ([B,1,1,G,C/G]): the backward pass then reads only x and these small coefficients, so a
      // step split into XLA clusters at the native convolutions keeps x alone between its forward
      // and backward clusters, not the centred and normalised activations too (small model's
      // peak: 1434-1466 -> 1312-1322 MiB). In one XLA cluster the chain below uses less (1259
      // against
      // 1459 MiB), so the other graphs keep it.
      Operand<TFloat32> variance =
          tf.math.mean(tf.math.squaredDifference(grouped, mean), axes, Mean.keepDims(true));
      Shape perGroup = Shape.of(1, 1, 1, groups, channels / groups);
      Operand<TFloat32> scale =
          tf.math.mul(
              tf.math.rsqrt(tf.math.add(variance, tf.constant(EPSILON))),
              tf.reshape(gamma, tf.constant(perGroup.asArray())));
      Operand<TFloat32> shift =
          tf.math.sub(tf.reshape(beta, tf.constant(perGroup.asArray())), tf.math.mul(mean, scale));
      Operand<TFloat32> normalized = tf.math.add(tf.math.mul(grouped, scale), shift);
      return tf.reshape(normalized, tf.constant(new long[] {-1, h, w, channels}));
    }
    Operand<TFloat32> centered = tf.math.sub(grouped, mean);
    Operand<TFloat32> variance = tf.math.mean(tf.math.square(centered), axes, Mean.keepDims(true));
    Operand<TFloat32> normalized =
        tf.math.mul(centered, tf.math.rsqrt(tf.math.add(variance, tf.constant(EPSILON))));
    Operand<TFloat32> flat = tf.reshape(normalized, tf.constant(new long[] {-1, h, w, channels}));
    return tf.math.add(tf.math.mul(flat, gamma), beta);
  }
}
