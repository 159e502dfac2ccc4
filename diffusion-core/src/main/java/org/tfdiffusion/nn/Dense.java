package org.tfdiffusion.nn;

import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;

/** A fully connected layer {@code y = x W + b}, W of shape [in, out] (PyTorch's Linear). */
public final class Dense {
  private Dense() {}

  /**
   * Applies the layer to x of shape [..., in].
   *
   * @param scope the layer's scope; its weights are {@code weight} [in, out] and {@code bias} [out]
   */
  public static Operand<TFloat32> apply(NetScope scope, Operand<TFloat32> x, int in, int out) {
    return apply(scope, x, in, out, 1);
  }

  /**
   * Applies the layer to x of shape [rows, in] where each image contributes {@code rowsPerImage}
   * rows (for the FLOP count; for example H·W rows for a per-pixel projection).
   */
  public static Operand<TFloat32> apply(
      NetScope scope, Operand<TFloat32> x, int in, int out, long rowsPerImage) {
    Initializer init = Initializer.fanIn(in);
    Operand<TFloat32> w = scope.param("weight", Shape.of(in, out), init);
    Operand<TFloat32> b = scope.param("bias", Shape.of(out), init);
    scope.addFlops(2L * in * out * rowsPerImage);
    return scope.tf().math.add(scope.tf().linalg.matMul(x, w), b);
  }
}
