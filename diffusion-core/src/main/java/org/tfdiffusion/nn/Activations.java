package org.tfdiffusion.nn;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** Element-wise activations. */
public final class Activations {
  private Activations() {}

  /** SiLU (swish): {@code x · σ(x)}. */
  public static Operand<TFloat32> silu(Ops tf, Operand<TFloat32> x) {
    return tf.math.mul(x, tf.math.sigmoid(x));
  }
}
