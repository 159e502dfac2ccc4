package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** Resolution changes of the U-Net. */
public final class Resample {
  private Resample() {}

  /** Halves H and W with a 3×3 stride-2 convolution, padding 1 (weights under {@code conv}). */
  public static Operand<TFloat32> down(NetScope scope, Operand<TFloat32> x, int channels) {
    return Conv2d.apply(scope.child("conv"), x, channels, channels, 3, 2);
  }

  /**
   * Doubles H and W by nearest-neighbour repetition, then a 3×3 convolution (weights under {@code
   * conv}).
   */
  public static Operand<TFloat32> up(NetScope scope, Operand<TFloat32> x, int channels) {
    return Conv2d.apply(scope.child("conv"), nearest2x(scope.tf(), x), channels, channels, 3, 1);
  }

  /**
   * Nearest-neighbour ×2 (F.interpolate(scale_factor=2, mode='nearest')) as a broadcast: [B, H, 1,
   * W, 1, C] → [B, H, 2, W, 2, C] → [B, 2H, 2W, C]. Its gradient is a sum, which XLA compiles;
   * TensorFlow's ResizeNearestNeighborGrad has no XLA CPU kernel and splits the compiled clusters.
   */
  public static Operand<TFloat32> nearest2x(Ops tf, Operand<TFloat32> x) {
    long h = x.shape().size(1);
    long w = x.shape().size(2);
    long c = x.shape().size(3);
    checkArgument(
        h > 0 && w > 0 && c > 0, "nearest upsampling needs static H, W, C, got %s", x.shape());
    Operand<TFloat32> expanded = tf.reshape(x, tf.constant(new long[] {-1, h, 1, w, 1, c}));
    Operand<TFloat32> ones =
        tf.constant(new float[][][][][][] {{{{{{1f}}, {{1f}}}}, {{{{1f}}, {{1f}}}}}});
    Operand<TFloat32> repeated =
        tf.math.mul(expanded, tf.reshape(ones, tf.constant(new long[] {1, 1, 2, 1, 2, 1})));
    return tf.reshape(repeated, tf.constant(new long[] {-1, 2 * h, 2 * w, c}));
  }
}
