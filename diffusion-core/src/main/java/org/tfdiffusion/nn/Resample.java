package org.tfdiffusion.nn;

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
    Ops tf = scope.tf();
    long h = x.shape().size(1);
    long w = x.shape().size(2);
    Operand<TFloat32> upsampled =
        tf.image.resizeNearestNeighbor(x, tf.constant(new int[] {(int) (2 * h), (int) (2 * w)}));
    return Conv2d.apply(scope.child("conv"), upsampled, channels, channels, 3, 1);
  }
}
