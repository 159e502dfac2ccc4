package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link Conv2d} against a naive double-precision convolution with PyTorch's {@code padding = (k -
 * 1) / 2} zero padding, for stride 1 and 2, even and odd sizes; its ledger entries; and its
 * gradients (which guard the stride-2 explicit-pad path: TensorFlow's {@code Conv2D} gradient drops
 * {@code explicit_paddings}).
 */
class Conv2dTest {
  /**
   * The graph runs in float32 on the same float32 inputs and weights as the double reference, so
   * the only difference is float32 rounding in dot products of at most k²·in = 54 terms of order 1:
   * typically a few 1e-7. 1e-5 relative with a 1e-5 floor (outputs near 0 after cancellation) keeps
   * a wide margin, while a shifted pad, a wrong tap or a transposed kernel errs by O(0.1).
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  private static final int BATCH = 2;

  @ParameterizedTest(name = "k={0} stride={1} {2}x{3} {4}->{5}")
  @CsvSource({
    // kernel, stride, H, W, in, out
    "3, 1, 5, 4, 3, 4",
    "1, 1, 4, 3, 5, 6",
    "3, 2, 6, 6, 3, 4",
    "3, 2, 8, 4, 2, 3",
    "3, 2, 5, 5, 3, 4",
    "3, 2, 5, 7, 2, 3",
    "1, 2, 5, 6, 3, 2",
  })
  void matchesNaiveConvolutionWithPyTorchPadding(
      int kernel, int stride, int height, int width, int in, int out) {
    checkForward(kernel, stride, height, width, in, out, false);
  }

  /** The forward check above, with the scope's convolutions native when {@code nativeKernels}. */
  static void checkForward(
      int kernel, int stride, int height, int width, int in, int out, boolean nativeKernels) {
    Nhwc x = Nhwc.gaussian(11, BATCH, height, width, in);
    SeededWeights weights = new SeededWeights(12);
    double[] w = weights.uniform("conv.weight", 0.5, kernel, kernel, in, out);
    double[] b = weights.uniform("conv.bias", 0.5, out);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                Conv2d.apply(
                    scope.withNativeConvolutions(nativeKernels).child("conv"),
                    x.constant(scope.tf()),
                    in,
                    out,
                    kernel,
                    stride));

    // PyTorch: H_out = floor((H + 2·pad - k) / stride) + 1, e.g. 6 -> 3 and 5 -> 3 for k=3, s=2.
    int pad = (kernel - 1) / 2;
    long expectedH = (height + 2 * pad - kernel) / stride + 1;
    long expectedW = (width + 2 * pad - kernel) / stride + 1;
    assertThat(y.shape()).isEqualTo(Shape.of(BATCH, expectedH, expectedW, out));
    Nhwc expected = ReferenceNn.conv2d(x, w, b, kernel, out, stride);
    assertClose("conv", y.values(), expected.data(), REL, ABS);
  }

  @Test
  void strideTwoHalvesEvenSizesAndRoundsOddSizesUp() {
    assertThat(outputSize(32, 2)).isEqualTo(16);
    assertThat(outputSize(5, 2)).isEqualTo(3);
    assertThat(outputSize(7, 2)).isEqualTo(4);
    assertThat(outputSize(1, 2)).isEqualTo(1);
    assertThat(outputSize(5, 1)).isEqualTo(5);
  }

  @ParameterizedTest(name = "k={0} stride={1} {2}x{3} {4}->{5}")
  @CsvSource({"3, 1, 5, 4, 3, 4", "1, 1, 4, 4, 5, 6", "3, 2, 6, 6, 3, 4", "3, 2, 5, 7, 2, 3"})
  void recordsWeightsAndFlopsInTheLedger(
      int kernel, int stride, int height, int width, int in, int out) {
    ModelLedger ledger;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      // Unknown batch: the FLOPs are per image and need only the static H and W.
      Operand<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, height, width, in)));
      Conv2d.apply(scope.child("down").child("conv"), x, in, out, kernel, stride);
      ledger = scope.ledger();
    }

    int pad = (kernel - 1) / 2;
    long ho = (height + 2 * pad - kernel) / stride + 1;
    long wo = (width + 2 * pad - kernel) / stride + 1;
    assertThat(ledger.flops())
        .containsExactly(Map.entry("down.conv", 2L * kernel * kernel * in * out * ho * wo));
    assertThat(ledger.parameters().keySet()).containsExactly("down.conv.weight", "down.conv.bias");
    ParameterSpec weight = ledger.parameters().get("down.conv.weight");
    ParameterSpec bias = ledger.parameters().get("down.conv.bias");
    assertThat(weight.shape()).isEqualTo(Shape.of(kernel, kernel, in, out));
    assertThat(bias.shape()).isEqualTo(Shape.of(out));
    // PyTorch's default: U(-1/√fan_in, 1/√fan_in) with fan_in = in·k² for weight and bias alike.
    Initializer pytorchDefault = Initializer.uniform(1 / Math.sqrt((double) in * kernel * kernel));
    assertThat(weight.initializer()).isEqualTo(pytorchDefault);
    assertThat(bias.initializer()).isEqualTo(pytorchDefault);
    assertThat(ledger.parameterCount()).isEqualTo((long) kernel * kernel * in * out + out);
  }

  /**
   * d/dx and d/dW of {@code L = Σ r ⊙ conv(x)} for a random upstream gradient r, against the exact
   * plain-Java gradient: dL/dx[b,iy,ix,c] = Σ r[b,oy,ox,o]·W[ky,kx,c,o] over the taps that read
   * (iy, ix), dL/dW[ky,kx,c,o] = Σ r[b,oy,ox,o]·x[b,iy,ix,c], dL/db[o] = Σ r[..., o].
   */
  @ParameterizedTest(name = "k={0} stride={1} {2}x{3}")
  @CsvSource({"3, 1, 4, 3", "3, 2, 4, 4", "3, 2, 5, 3", "1, 2, 4, 5"})
  void gradientsMatchTheAnalyticGradient(int kernel, int stride, int height, int width) {
    checkGradients(kernel, stride, height, width, 2, 3, false);
  }

  /**
   * The channel-padded convolution (the U-Net's image-facing layers) gives the plain convolution's
   * values and gradients with respect to its true-shaped weights, for 1 and 3 channels in or out.
   */
  @ParameterizedTest(name = "{0}->{1}")
  @CsvSource({"1, 8", "3, 8", "8, 1", "8, 3", "1, 1", "4, 4"})
  void channelPaddedConvolutionEqualsThePlainOne(int in, int out) {
    Nhwc x = Nhwc.gaussian(31, BATCH, 5, 4, in);
    SeededWeights weights = new SeededWeights(32);
    double[] w = weights.uniform("conv.weight", 0.5, 3, 3, in, out);
    double[] b = weights.uniform("conv.bias", 0.5, out);
    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                Conv2d.applyPadded(scope.child("conv"), x.constant(scope.tf()), in, out, 3, 4));
    assertThat(y.shape()).isEqualTo(Shape.of(BATCH, 5, 4, out));
    assertClose("padded conv", y.values(), ReferenceNn.conv2d(x, w, b, 3, out, 1).data(), REL, ABS);
    checkGradients(3, 1, 5, 4, in, out, true);
  }

  private static void checkGradients(
      int kernel, int stride, int height, int width, int in, int out, boolean padded) {
    checkGradients(kernel, stride, height, width, in, out, padded, false);
  }

  /**
   * As above, with the scope's convolutions from {@link NativeConv} when {@code nativeKernels}
   * (oneDNN's forward, input-gradient, filter-gradient and bias-gradient kernels).
   */
  static void checkGradients(
      int kernel,
      int stride,
      int height,
      int width,
      int in,
      int out,
      boolean padded,
      boolean nativeKernels) {
    Nhwc x = Nhwc.gaussian(21, BATCH, height, width, in);
    SeededWeights weights = new SeededWeights(22);
    double[] w = weights.uniform("conv.weight", 0.5, kernel, kernel, in, out);
    weights.uniform("conv.bias", 0.5, out);
    int pad = (kernel - 1) / 2;
    int ho = (height + 2 * pad - kernel) / stride + 1;
    int wo = (width + 2 * pad - kernel) / stride + 1;
    Nhwc upstream = Nhwc.gaussian(23, BATCH, ho, wo, out);

    List<float[]> grads;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xIn = x.constant(tf);
      Map<String, Operand<TFloat32>> constants = weights.constants(tf);
      Operand<TFloat32> wIn = constants.get("conv.weight");
      Operand<TFloat32> bIn = constants.get("conv.bias");
      NetScope scope =
          NetScope.inference(tf, new BoundParameters(constants))
              .withNativeConvolutions(nativeKernels);
      Operand<TFloat32> y =
          padded
              ? Conv2d.applyPadded(scope.child("conv"), xIn, in, out, kernel, 4)
              : Conv2d.apply(scope.child("conv"), xIn, in, out, kernel, stride);
      Operand<TFloat32> loss =
          tf.reduceSum(tf.math.mul(y, upstream.constant(tf)), tf.constant(new int[] {0, 1, 2, 3}));
      Gradients d = tf.gradients(loss, List.of(xIn, wIn, bIn));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(d.dy(0)).fetch(d.dy(1)).fetch(d.dy(2)).run()) {
        grads =
            List.of(
                TensorIO.toFloats(r.get(0)),
                TensorIO.toFloats(r.get(1)),
                TensorIO.toFloats(r.get(2)));
      }
    }

    ReferenceNn.ConvGradients expected =
        ReferenceNn.conv2dGradients(x, w, upstream, kernel, stride);
    assertClose("dL/dx", grads.get(0), expected.dx(), REL, ABS);
    assertClose("dL/dW", grads.get(1), expected.dw(), REL, ABS);
    assertClose("dL/db", grads.get(2), expected.db(), REL, ABS);
  }

  @Test
  void rejectsEvenKernelsAndOtherStrides() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x = Nhwc.gaussian(5, 1, 4, 4, 2).constant(tf);

      assertThatThrownBy(() -> Conv2d.apply(scope.child("c"), x, 2, 2, 2, 1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("kernel size must be odd, got 2");
      assertThatThrownBy(() -> Conv2d.apply(scope.child("c"), x, 2, 2, 3, 3))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("stride must be 1 or 2, got 3");
    }
  }

  private static long outputSize(int size, int stride) {
    SeededWeights weights = new SeededWeights(3);
    weights.uniform("conv.weight", 0.5, 3, 3, 1, 1);
    weights.uniform("conv.bias", 0.5, 1);
    Nhwc x = Nhwc.gaussian(4, 1, size, size, 1);
    return weights
        .runInference(
            scope -> Conv2d.apply(scope.child("conv"), x.constant(scope.tf()), 1, 1, 3, stride))
        .shape()
        .get(1);
  }
}
