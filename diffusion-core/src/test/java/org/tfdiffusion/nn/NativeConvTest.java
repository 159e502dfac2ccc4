package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.testing.NativeOps;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link NativeConv}'s oneDNN ops against the naive double-precision convolution and its exact
 * gradients (the same references as {@link Conv2dTest}), through {@link Conv2d} with a scope whose
 * convolutions are native.
 *
 * <p>Skipped where the library is not built, failed there when CI requires it ({@link NativeOps}).
 */
class NativeConvTest {
  /**
   * As in {@link Conv2dTest}: float32 rounding of short dot products against a double reference.
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  @BeforeAll
  static void requireTheLibrary() {
    NativeOps.assumeNativeConv();
  }

  @ParameterizedTest(name = "k={0} stride={1} {2}x{3} {4}->{5}")
  @CsvSource({
    // kernel, stride, H, W, in, out
    "3, 1, 5, 4, 3, 4",
    "3, 1, 6, 6, 16, 32",
    "5, 1, 7, 5, 2, 3",
    "3, 1, 5, 4, 1, 8",
    "3, 1, 5, 4, 8, 1",
    "3, 2, 6, 6, 3, 4",
    "3, 2, 5, 7, 2, 3",
    "3, 2, 8, 8, 32, 16",
  })
  void matchesNaiveConvolutionWithPyTorchPadding(
      int kernel, int stride, int height, int width, int in, int out) {
    Conv2dTest.checkForward(kernel, stride, height, width, in, out, true);
  }

  /**
   * keep_filter (inference graphs): the kernel reorders its filter once per {@code Session.run}. A
   * weight changed between runs, in place and away from the eight values the kernel probes, is
   * still the one the next run convolves with: each run has its own step id.
   */
  @Test
  void aKeptFilterFollowsItsWeightFromRunToRun() {
    int k = 3;
    int channels = 64;
    Nhwc x = Nhwc.gaussian(31, 2, 6, 6, channels);
    SeededWeights weights = new SeededWeights(32);
    double[] first = weights.uniform("f", 0.5, k, k, channels, channels);
    double[] bias = weights.uniform("b", 0.5, channels);
    double[] second = first.clone();
    second[1] += 3.0; // index 1 is none of the probed values (0, (n - 1) / 7, ..., n - 1)
    Shape filterShape = Shape.of(k, k, channels, channels);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      org.tensorflow.op.core.Variable<TFloat32> filter = tf.variable(filterShape, TFloat32.class);
      Placeholder<TFloat32> value = tf.placeholder(TFloat32.class, Placeholder.shape(filterShape));
      Operand<TFloat32> assign = tf.assign(filter, value);
      Operand<TFloat32> y =
          NativeConv.conv2d(tf, x.constant(tf), filter, tf.constant(floats(bias)), 1, false, true);
      try (Session s = new Session(g)) {
        int run = 0;
        for (double[] f : List.of(first, second, first)) {
          run++;
          try (TFloat32 fed = org.tfdiffusion.graph.TensorIO.floats(filterShape, floats(f))) {
            s.runner().feed(value, fed).addTarget(assign).run().close();
          }
          try (org.tensorflow.Result r = s.runner().fetch(y).run()) {
            org.tfdiffusion.testing.ArrayAsserts.assertClose(
                "run " + run,
                org.tfdiffusion.graph.TensorIO.toFloats(r.get(0)),
                ReferenceNn.conv2d(x, f, bias, k, channels, 1).data(),
                REL,
                ABS);
          }
        }
      }
    }
  }

  private static float[] floats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
  }

  /** Round to nearest even bfloat16 (8 bits of mantissa), as oneDNN's conversion does. */
  static double bfloat16(double value) {
    int bits = Float.floatToRawIntBits((float) value);
    int lsb = (bits >>> 16) & 1;
    return Float.intBitsToFloat((bits + 0x7FFF + lsb) & 0xFFFF0000);
  }

  /**
   * The bfloat16 kernels against the naive convolution of the input and filter rounded to bfloat16
   * in Java (float32 accumulation: the float32 tolerance), and clearly away from the float32
   * result, so the rounding did happen; convolutions below 16 channels stay float32.
   */
  @ParameterizedTest(name = "k={0} stride={1} {2}x{3} {4}->{5}")
  @CsvSource({"3, 1, 6, 6, 16, 32", "3, 2, 8, 8, 32, 16", "3, 1, 5, 4, 1, 16", "3, 1, 5, 4, 16, 1"})
  void bfloat16KernelsMatchTheConvolutionOfRoundedOperands(
      int kernel, int stride, int height, int width, int in, int out) {
    Nhwc x = Nhwc.gaussian(21, 2, height, width, in);
    SeededWeights weights = new SeededWeights(22);
    double[] w = weights.uniform("conv.weight", 0.5, kernel, kernel, in, out);
    double[] b = weights.uniform("conv.bias", 0.5, out);
    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                Conv2d.apply(
                    scope.withNativeConvolutions(true).withBfloat16Convolutions(true).child("conv"),
                    x.constant(scope.tf()),
                    in,
                    out,
                    kernel,
                    stride));
    boolean rounded = in >= Conv2d.MIN_BFLOAT16_CHANNELS && out >= Conv2d.MIN_BFLOAT16_CHANNELS;
    double[] xr = x.data().clone();
    double[] wr = w.clone();
    if (rounded) {
      for (int i = 0; i < xr.length; i++) {
        xr[i] = bfloat16(xr[i]);
      }
      for (int i = 0; i < wr.length; i++) {
        wr[i] = bfloat16(wr[i]);
      }
    }
    Nhwc xRounded = new Nhwc(x.batch(), x.height(), x.width(), x.channels(), xr);
    Nhwc expected = ReferenceNn.conv2d(xRounded, wr, b, kernel, out, stride);
    org.tfdiffusion.testing.ArrayAsserts.assertClose(
        "bf16 conv", y.values(), expected.data(), REL, ABS);
    double[] exact = ReferenceNn.conv2d(x, w, b, kernel, out, stride).data();
    double largest = 0;
    for (int i = 0; i < exact.length; i++) {
      largest = Math.max(largest, Math.abs(y.values()[i] - exact[i]));
    }
    if (rounded) {
      assertThat(largest).as("bfloat16 rounding shows against float32").isGreaterThan(1e-3);
    } else {
      assertThat(largest).as("image-facing convolutions stay float32").isLessThan(1e-4);
    }
  }

  @Test
  void bfloat16NeedsNativeConvolutionsAndInference() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope plain = NetScope.inference(tf, new VariableParameters(tf, 1));
      assertThatThrownBy(() -> plain.withBfloat16Convolutions(true))
          .hasMessageContaining("need the native convolutions");
      NetScope training =
          NetScope.training(tf, new VariableParameters(tf, 1), tf.constant(new long[] {1, 2}))
              .withNativeConvolutions(true);
      assertThatThrownBy(() -> training.withBfloat16Convolutions(true))
          .hasMessageContaining("inference only");
    }
  }

  /** dL/dx, dL/dW and dL/db of oneDNN's backward kernels against the exact plain-Java gradient. */
  @ParameterizedTest(name = "k={0} stride={1} {2}x{3} {4}->{5}")
  @CsvSource({
    "3, 1, 4, 3, 2, 3",
    "3, 1, 6, 5, 16, 16",
    "5, 1, 5, 6, 3, 2",
    "3, 2, 4, 4, 2, 3",
    "3, 2, 5, 3, 2, 3",
    "3, 2, 8, 6, 16, 32",
  })
  void gradientsMatchTheAnalyticGradient(
      int kernel, int stride, int height, int width, int in, int out) {
    Conv2dTest.checkGradients(kernel, stride, height, width, in, out, false, true);
  }

  /** The image-facing convolutions (1 or 3 channels in or out) run natively at their true width. */
  @ParameterizedTest(name = "{0}->{1}")
  @CsvSource({"1, 8", "3, 8", "8, 1", "8, 3"})
  void channelPaddedConvolutionsRunUnpadded(int in, int out) {
    Conv2dTest.checkGradients(3, 1, 5, 4, in, out, true, true);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          NetScope.inference(tf, new VariableParameters(tf, 1)).withNativeConvolutions(true);
      Conv2d.applyPadded(
          scope.child("conv"), Nhwc.gaussian(1, 1, 4, 4, in).constant(tf), in, out, 3, 4);
      List<String> types = opTypes(g);
      assertThat(types).contains(NativeConv.OP).doesNotContain("Conv2D", "Pad", "BiasAdd");
    }
  }

  /** 1×1 convolutions stay TensorFlow's (one matrix product); k×k ones carry their bias. */
  @Test
  void pointwiseConvolutionsAreMatrixProducts() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          NetScope.inference(tf, new VariableParameters(tf, 1)).withNativeConvolutions(true);
      Operand<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 8, 8, 4)));
      Operand<TFloat32> y = Conv2d.apply(scope.child("skip"), x, 4, 6, 1, 1);
      // Shape.equals is false for unknown dimensions: compare the arrays
      assertThat(y.shape().asArray()).containsExactly(-1, 8, 8, 6);
      assertThat(opTypes(g)).contains("MatMul").doesNotContain(NativeConv.OP, "Conv2D");
    }
  }

  /**
   * Shapes the kernel cannot take fail with the op's message, not a crash; strides other than 1 and
   * 2 are refused while the graph is built.
   */
  @Test
  void rejectsMismatchedAndEvenFiltersAndOtherStrides() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> x = Nhwc.gaussian(5, 1, 4, 4, 3).constant(tf);
      Operand<TFloat32> wrongChannels = Nhwc.gaussian(6, 3, 3, 2, 4).constant(tf);
      Operand<TFloat32> even = Nhwc.gaussian(7, 2, 2, 3, 4).constant(tf);
      Operand<TFloat32> bias = tf.zeros(tf.constant(new int[] {4}), TFloat32.class);
      Operand<TFloat32> a = NativeConv.conv2d(tf, x, wrongChannels, bias, 1);
      Operand<TFloat32> b = NativeConv.conv2d(tf, x, even, bias, 1);
      try (Session s = new Session(g)) {
        assertThatThrownBy(() -> s.runner().fetch(a).run().close())
            .isInstanceOf(TFInvalidArgumentException.class)
            .hasMessageContaining("the filter's input channels differ from the input's");
        assertThatThrownBy(() -> s.runner().fetch(b).run().close())
            .isInstanceOf(TFInvalidArgumentException.class)
            .hasMessageContaining("must be odd");
      }
      Operand<TFloat32> w = Nhwc.gaussian(8, 3, 3, 3, 4).constant(tf);
      assertThatThrownBy(() -> NativeConv.conv2d(tf, x, w, bias, 3))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("stride must be 1 or 2, got 3");
    }
  }

  private static List<String> opTypes(Graph g) {
    List<String> types = new ArrayList<>();
    g.operations().forEachRemaining(op -> types.add(op.type()));
    return types;
  }
}
