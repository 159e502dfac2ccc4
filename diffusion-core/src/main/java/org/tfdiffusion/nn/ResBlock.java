package org.tfdiffusion.nn;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The tutorial's residual block with time conditioning:
 *
 * <pre>
 *   h = conv1(SiLU(GroupNorm(x)))
 *   h = h + Linear(emb)[:, None, None, :]
 *   h = conv2(Dropout(SiLU(GroupNorm(h))))
 *   y = h + (in == out ? x : conv1x1(x))
 * </pre>
 *
 * Weights: {@code norm1, conv1, time_proj, norm2, conv2} and {@code skip} when widths differ.
 */
public final class ResBlock {
  private ResBlock() {}

  /**
   * Applies the block.
   *
   * @param x [B, H, W, in]
   * @param emb the conditioning embedding [B, embDim]
   * @param groups group-norm groups
   * @param dropout dropout rate before conv2 (training only)
   * @return [B, H, W, out]
   */
  public static Operand<TFloat32> apply(
      NetScope scope,
      Operand<TFloat32> x,
      Operand<TFloat32> emb,
      int in,
      int out,
      int embDim,
      int groups,
      double dropout) {
    Ops tf = scope.tf();
    Operand<TFloat32> residual =
        in == out ? x : Conv2d.apply(scope.child("skip"), x, in, out, 1, 1);
    Operand<TFloat32> h = GroupNorm.apply(scope.child("norm1"), x, in, groups);
    h = Conv2d.apply(scope.child("conv1"), Activations.silu(tf, h), in, out, 3, 1);
    Operand<TFloat32> t = Dense.apply(scope.child("time_proj"), emb, embDim, out);
    h = tf.math.add(h, tf.reshape(t, tf.constant(new long[] {-1, 1, 1, out})));
    h = Activations.silu(tf, GroupNorm.apply(scope.child("norm2"), h, out, groups));
    h = Dropout.apply(scope, h, dropout);
    h = Conv2d.apply(scope.child("conv2"), h, out, out, 3, 1);
    return tf.math.add(h, residual);
  }
}
