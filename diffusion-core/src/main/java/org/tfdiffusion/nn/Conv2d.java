package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A 2-D convolution over NHWC images with a square odd kernel and PyTorch's padding {@code (k - 1)
 * / 2}; weights {@code weight} [k, k, in, out] (HWIO) and {@code bias} [out].
 *
 * <p>Stride 1 uses TensorFlow's "SAME" padding, which equals PyTorch's symmetric padding for odd
 * kernels. Stride 2 pads explicitly and convolves "VALID": TensorFlow's "SAME" would pad only the
 * bottom/right for even sizes, and the C++ gradient of {@code Conv2D} drops {@code
 * explicit_paddings}.
 *
 * <p>In a scope with native convolutions ({@link NetScope#withNativeConvolutions}, training's
 * default where the library is built) k×k convolutions run on {@link NativeConv}'s oneDNN ops with
 * the bias fused, at either stride and without the channel padding, and 1×1 ones are one matrix
 * product.
 */
public final class Conv2d {
  /**
   * Convolutions with fewer input or output channels stay float32 in a {@link
   * NetScope#bfloat16Convolutions() bfloat16 scope}: the ones that read the image and write the
   * model output, where rounding costs the most accuracy and saves the least time.
   */
  public static final int MIN_BFLOAT16_CHANNELS = 16;

  private Conv2d() {}

  /** Applies a k×k convolution with the given stride (1 or 2) to x [B, H, W, in]. */
  public static Operand<TFloat32> apply(
      NetScope scope, Operand<TFloat32> x, int in, int out, int kernel, int stride) {
    checkArgument(kernel % 2 == 1, "kernel size must be odd, got %s", kernel);
    checkArgument(stride == 1 || stride == 2, "stride must be 1 or 2, got %s", stride);
    Ops tf = scope.tf();
    Initializer init = Initializer.fanIn((long) in * kernel * kernel);
    Operand<TFloat32> w = scope.param("weight", Shape.of(kernel, kernel, in, out), init);
    Operand<TFloat32> b = scope.param("bias", Shape.of(out), init);
    Operand<TFloat32> y;
    boolean nativeKernel = kernel > 1 && scope.nativeConvolutions();
    if (nativeKernel) {
      boolean bfloat16 =
          scope.bfloat16Convolutions()
              && in >= MIN_BFLOAT16_CHANNELS
              && out >= MIN_BFLOAT16_CHANNELS;
      y = NativeConv.conv2d(tf, x, w, b, stride, bfloat16, scope.keptFilters());
    } else if (kernel == 1 && stride == 1 && scope.nativeConvolutions()) {
      y = pointwise(tf, x, w, in, out);
    } else if (stride == 1) {
      y = tf.nn.conv2d(x, w, List.of(1L, 1L, 1L, 1L), "SAME");
    } else {
      int pad = (kernel - 1) / 2;
      Operand<TFloat32> padded =
          tf.pad(
              x,
              tf.constant(new int[][] {{0, 0}, {pad, pad}, {pad, pad}, {0, 0}}),
              tf.constant(0f));
      y = tf.nn.conv2d(padded, w, List.of(1L, 2L, 2L, 1L), "VALID");
    }
    Shape outShape = y.shape();
    if (outShape.numDimensions() == 4 && outShape.size(1) > 0 && outShape.size(2) > 0) {
      scope.addFlops(2L * kernel * kernel * in * out * outShape.size(1) * outShape.size(2));
    }
    return nativeKernel ? y : tf.nn.biasAdd(y, b);
  }

  /**
   * A stride-1 k×k convolution whose input and output channel counts are zero-padded inside the
   * graph to at least {@code minChannels}; the weights keep their true shape [k, k, in, out] and
   * the result equals {@link #apply} (the padded products are exact zeros). oneDNN's bfloat16
   * kernels turn the loss into NaN within a few steps when a convolution has 1 or 3 channels (its
   * {@code Conv2DBackpropInput}); the image-facing convolutions of a U-Net go through here.
   */
  public static Operand<TFloat32> applyPadded(
      NetScope scope, Operand<TFloat32> x, int in, int out, int kernel, int minChannels) {
    // oneDNN's kernels need no padding (and are float32 only, so bfloat16 never reaches them)
    if (in >= minChannels && out >= minChannels || scope.nativeConvolutions()) {
      return apply(scope, x, in, out, kernel, 1);
    }
    checkArgument(kernel % 2 == 1, "kernel size must be odd, got %s", kernel);
    Ops tf = scope.tf();
    Initializer init = Initializer.fanIn((long) in * kernel * kernel);
    Operand<TFloat32> w = scope.param("weight", Shape.of(kernel, kernel, in, out), init);
    Operand<TFloat32> b = scope.param("bias", Shape.of(out), init);
    int padIn = Math.max(0, minChannels - in);
    int padOut = Math.max(0, minChannels - out);
    Operand<TFloat32> wide =
        tf.pad(
            w, tf.constant(new int[][] {{0, 0}, {0, 0}, {0, padIn}, {0, padOut}}), tf.constant(0f));
    Operand<TFloat32> input =
        padIn == 0
            ? x
            : tf.pad(
                x, tf.constant(new int[][] {{0, 0}, {0, 0}, {0, 0}, {0, padIn}}), tf.constant(0f));
    Operand<TFloat32> y = tf.nn.conv2d(input, wide, List.of(1L, 1L, 1L, 1L), "SAME");
    if (padOut > 0) {
      y =
          tf.slice(
              y, tf.constant(new int[] {0, 0, 0, 0}), tf.constant(new int[] {-1, -1, -1, out}));
    }
    Shape outShape = y.shape();
    if (outShape.numDimensions() == 4 && outShape.size(1) > 0 && outShape.size(2) > 0) {
      scope.addFlops(2L * kernel * kernel * in * out * outShape.size(1) * outShape.size(2));
    }
    return tf.nn.biasAdd(y, b);
  }

  /**
   * A 1×1 convolution as one matrix product over the pixels, [B·H·W, in] × [in, out]: its filter
   * gradient is then a matrix product too, where XLA's {@code Conv2DBackpropFilter} of a 1×1 filter
   * is a convolution with a window the size of the image.
   */
  private static Operand<TFloat32> pointwise(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> w, int in, int out) {
    Operand<TFloat32> rows = tf.reshape(x, tf.constant(new long[] {-1, in}));
    Operand<TFloat32> product =
        tf.linalg.matMul(rows, tf.reshape(w, tf.constant(new long[] {in, out})));
    Shape shape = x.shape();
    if (shape.numDimensions() == 4 && shape.size(1) > 0 && shape.size(2) > 0) {
      return tf.reshape(product, tf.constant(new long[] {-1, shape.size(1), shape.size(2), out}));
    }
    Operand<TInt32> lead =
        tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {3}));
    return tf.reshape(
        product, tf.concat(List.of(lead, tf.constant(new int[] {out})), tf.constant(0)));
  }
}
