package org.tfdiffusion.graph;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt64;

/**
 * Initial values that TensorFlow computes when it runs them instead of folding them into constants
 * of the graph.
 *
 * <p>A session constant-folds subgraphs of constants the first time it runs them: a stateless
 * random initializer with a constant seed becomes a constant once its tensor has more than a few
 * ten thousand elements (measured: 3×3×32×32 was drawn at run time, 3×3×64×64 folded), and so did
 * most of AdamW's zero-filled slots in an XLA session (the small model's init ran 26 fills for its
 * 188 slots and norm weights, 196 after the change). The folded tensors stay alive in the session's
 * cached executor for as long as the session lives, a second copy of those weights and slots. A
 * data dependency on a stateful op ({@code Timestamp}) stops the folding; the values are the same.
 * Measured: the tutorial model's memory after initialisation fell from 2462 to 1776 MiB, its peak
 * training memory from 4093 to 3677 MiB and its initialisation from 12 to 4 s.
 */
public final class Unfolded {
  private Unfolded() {}

  /** A float64 scalar 0 that only exists at run time: min(now, 0), now being seconds since 1970. */
  public static Operand<TFloat64> zero(Ops tf) {
    return tf.math.minimum(tf.timestamp(), tf.constant(0.0));
  }

  /** {@code value} + {@code zero}: the same int64 tensor, no longer a constant. */
  public static Operand<TInt64> int64(Ops tf, Operand<TInt64> value, Operand<TFloat64> zero) {
    return tf.math.add(value, tf.dtypes.cast(zero, TInt64.class));
  }

  /** float32 zeros of {@code shape}, filled at run time from {@code zero}. */
  public static Operand<TFloat32> zeros(Ops tf, Shape shape, Operand<TFloat64> zero) {
    return tf.fill(tf.constant(shape), tf.dtypes.cast(zero, TFloat32.class));
  }
}
