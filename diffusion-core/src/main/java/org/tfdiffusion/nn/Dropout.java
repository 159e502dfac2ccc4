package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Inverted dropout: in training, each element is zeroed with probability p and the rest scaled by
 * 1/(1-p); at inference, identity. Masks come from a stateless RNG seeded per step and site.
 */
public final class Dropout {
  private Dropout() {}

  /** Applies dropout with rate {@code rate} in [0, 1). */
  public static Operand<TFloat32> apply(NetScope scope, Operand<TFloat32> x, double rate) {
    checkArgument(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got %s", rate);
    if (rate == 0 || !scope.training()) {
      return x;
    }
    Ops tf = scope.tf();
    Operand<TFloat32> u =
        tf.random.statelessRandomUniform(tf.shape(x), scope.nextDropoutSeed(), TFloat32.class);
    Operand<TFloat32> keep =
        tf.dtypes.cast(tf.math.greaterEqual(u, tf.constant((float) rate)), TFloat32.class);
    return tf.math.mul(x, tf.math.mul(keep, tf.constant((float) (1.0 / (1.0 - rate)))));
  }
}
