package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;

/**
 * Multi-head self-attention over the pixels of a feature map, with a residual connection (as in the
 * DDPM U-Net at 16×16):
 *
 * <pre>
 *   h = GroupNorm(x) reshaped to [B, N = H·W, C]
 *   q, k, v = h W_q, h W_k, h W_v        split into heads of size d = C / heads
 *   a = softmax(q kᵀ / √d) v
 *   y = x + a W_o
 * </pre>
 *
 * Weights: {@code norm, q, k, v, out}.
 */
public final class Attention {
  private Attention() {}

  /** Applies attention to x [B, H, W, C]. */
  public static Operand<TFloat32> apply(
      NetScope scope, Operand<TFloat32> x, int channels, int heads, int groups) {
    checkArgument(
        heads >= 1 && channels % heads == 0,
        "attention at %s: %s channels do not split into %s heads",
        scope.path(),
        channels,
        heads);
    Ops tf = scope.tf();
    long height = x.shape().size(1);
    long width = x.shape().size(2);
    long pixels = height * width;
    int headDim = channels / heads;
    Operand<TFloat32> h = GroupNorm.apply(scope.child("norm"), x, channels, groups);
    Operand<TFloat32> rows = tf.reshape(h, tf.constant(new long[] {-1, channels}));
    Operand<TFloat32> q =
        splitHeads(
            tf,
            Dense.apply(scope.child("q"), rows, channels, channels, pixels),
            pixels,
            heads,
            headDim);
    Operand<TFloat32> k =
        splitHeads(
            tf,
            Dense.apply(scope.child("k"), rows, channels, channels, pixels),
            pixels,
            heads,
            headDim);
    Operand<TFloat32> v =
        splitHeads(
            tf,
            Dense.apply(scope.child("v"), rows, channels, channels, pixels),
            pixels,
            heads,
            headDim);
    Operand<TFloat32> scores =
        tf.math.mul(
            tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true)),
            tf.constant((float) (1.0 / Math.sqrt(headDim))));
    Operand<TFloat32> attended = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
    scope.addFlops(2L * 2L * pixels * pixels * channels);
    // [B, heads, N, d] -> [B, N, heads, d] -> [B·N, C]
    Operand<TFloat32> merged =
        tf.reshape(
            tf.linalg.transpose(attended, tf.constant(new int[] {0, 2, 1, 3})),
            tf.constant(new long[] {-1, channels}));
    Operand<TFloat32> projected =
        Dense.apply(scope.child("out"), merged, channels, channels, pixels);
    return tf.math.add(
        x, tf.reshape(projected, tf.constant(new long[] {-1, height, width, channels})));
  }

  private static Operand<TFloat32> splitHeads(
      Ops tf, Operand<TFloat32> rows, long pixels, int heads, int headDim) {
    Operand<TFloat32> split =
        tf.reshape(rows, tf.constant(new long[] {-1, pixels, heads, headDim}));
    return tf.linalg.transpose(split, tf.constant(new int[] {0, 2, 1, 3}));
  }
}
