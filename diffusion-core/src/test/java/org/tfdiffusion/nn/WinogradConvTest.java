package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.graph.Loops;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.NativeOps;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * oneDNN's Winograd kernels (F(4×4, 3×3): float32 3×3 convolutions at stride 1) inside {@link
 * NativeConv}'s ops, against the naive double-precision convolution and its exact gradients.
 *
 * <p>Winograd's transforms round differently from a direct dot product: its error grows with the
 * output's scale rather than each value's, so the tolerance here is {@link #SCALE} times the
 * largest expected magnitude. Each test also checks that the Winograd kernels did run: their result
 * differs from the direct kernels' (which round as the plain dot product does). oneDNN has them on
 * AVX-512 CPUs only; elsewhere the op runs the direct kernels and these tests are skipped.
 */
class WinogradConvTest {
  private static final double SCALE = 2e-5;
  private static final int BATCH = 4;
  private static final int SIZE = 12;
  private static final int CHANNELS = 32;

  @BeforeAll
  static void requireTheLibraryAndAvx512() throws IOException {
    NativeOps.assumeNativeConv();
    Path cpuinfo = Path.of("/proc/cpuinfo");
    assumeTrue(
        Files.isReadable(cpuinfo) && Files.readString(cpuinfo).contains(" avx512f"),
        "oneDNN's Winograd kernels need AVX-512");
    String mode = System.getenv("TFDIFFUSION_WINOGRAD");
    assumeTrue(
        mode == null || !(mode.equals("off") || mode.equals("0")),
        "TFDIFFUSION_WINOGRAD=" + mode + " turns Winograd's kernels off");
  }

  @Test
  void forwardAndGradientsMatchTheExactConvolutionAndDifferFromTheDirectKernels() {
    Nhwc x = Nhwc.gaussian(41, BATCH, SIZE, SIZE, CHANNELS);
    Nhwc upstream = Nhwc.gaussian(43, BATCH, SIZE, SIZE, CHANNELS);
    SeededWeights weights = new SeededWeights(42);
    double[] w = weights.uniform("w", 0.5, 3, 3, CHANNELS, CHANNELS);
    double[] b = weights.uniform("b", 0.5, CHANNELS);

    List<float[]> winograd = forwardAndGradients(x, upstream, w, b, true);
    List<float[]> direct = forwardAndGradients(x, upstream, w, b, false);

    double[] y = ReferenceNn.conv2d(x, w, b, 3, CHANNELS, 1).data();
    ReferenceNn.ConvGradients d = ReferenceNn.conv2dGradients(x, w, upstream, 3, 1);
    List<double[]> expected = List.of(y, d.dx(), d.dw(), d.db());
    String[] names = {"output", "input gradient", "filter gradient", "bias gradient"};
    for (int i = 0; i < 4; i++) {
      assertWithinScale("Winograd " + names[i], winograd.get(i), expected.get(i));
      assertWithinScale("direct " + names[i], direct.get(i), expected.get(i));
    }
    // the bias gradient is a plain sum in both; the three convolutions are Winograd's
    for (int i = 0; i < 3; i++) {
      assertThat(winograd.get(i)).as("Winograd's %s", names[i]).isNotEqualTo(direct.get(i));
    }
  }

  /**
   * A kept filter (inference) runs the direct kernel on its first call in a {@code Session.run} and
   * Winograd's from the second on, with the filter transformed once: a lone forward pass is the
   * direct kernel's, bit for bit; a loop of three convolutions matches the exact one.
   */
  @Test
  void aKeptFilterRunsWinogradFromItsSecondCallInARun() {
    Nhwc x = Nhwc.gaussian(51, BATCH, SIZE, SIZE, CHANNELS);
    SeededWeights weights = new SeededWeights(52);
    double[] w = weights.uniform("w", 0.1, 3, 3, CHANNELS, CHANNELS);
    double[] b = weights.uniform("b", 0.1, CHANNELS);

    float[] once = loop(x, w, b, 1, true);
    assertThat(once).isEqualTo(loop(x, w, b, 1, false));

    Nhwc expected = x;
    for (int i = 0; i < 3; i++) {
      expected = ReferenceNn.conv2d(expected, w, b, 3, CHANNELS, 1);
    }
    float[] thrice = loop(x, w, b, 3, true);
    assertWithinScale("three steps", thrice, expected.data());
    assertThat(thrice).isNotEqualTo(loop(x, w, b, 3, false));
  }

  private static List<float[]> forwardAndGradients(
      Nhwc x, Nhwc upstream, double[] w, double[] b, boolean winograd) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xIn = x.constant(tf);
      Operand<TFloat32> wIn = filter(tf, w);
      Operand<TFloat32> bIn = tf.constant(floats(b));
      Operand<TFloat32> y = NativeConv.conv2d(tf, xIn, wIn, bIn, 1, false, false, winograd);
      Operand<TFloat32> loss =
          tf.reduceSum(tf.math.mul(y, upstream.constant(tf)), tf.constant(new int[] {0, 1, 2, 3}));
      Gradients d = tf.gradients(loss, List.of(xIn, wIn, bIn));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(y).fetch(d.dy(0)).fetch(d.dy(1)).fetch(d.dy(2)).run()) {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          out.add(TensorIO.toFloats(r.get(i)));
        }
        return out;
      }
    }
  }

  /** {@code steps} convolutions of x in one compiled loop, the filter kept. */
  private static float[] loop(Nhwc x, double[] w, double[] b, int steps, boolean winograd) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      List<Operand<?>> initial =
          List.of(tf.constant(0), x.constant(tf), filter(tf, w), tf.constant(floats(b)));
      List<Output<?>> last =
          Loops.whileLoop(
              tf,
              "convolve",
              initial,
              (f, v) -> f.math.less(int32(v.get(0)), f.constant(steps)),
              (f, v) ->
                  List.of(
                      f.math.add(int32(v.get(0)), f.constant(1)),
                      NativeConv.conv2d(
                          f,
                          float32(v.get(1)),
                          float32(v.get(2)),
                          float32(v.get(3)),
                          1,
                          false,
                          true,
                          winograd),
                      v.get(2),
                      v.get(3)));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(last.get(1)).run()) {
        return TensorIO.toFloats((TFloat32) r.get(0));
      }
    }
  }

  private static void assertWithinScale(String what, float[] actual, double[] expected) {
    double largest = 0;
    for (double e : expected) {
      largest = Math.max(largest, Math.abs(e));
    }
    ArrayAsserts.assertClose(what, actual, expected, 0, SCALE * largest);
  }

  private static Operand<TFloat32> filter(Ops tf, double[] w) {
    return tf.reshape(tf.constant(floats(w)), tf.constant(new long[] {3, 3, CHANNELS, CHANNELS}));
  }

  @SuppressWarnings("unchecked")
  private static Operand<TInt32> int32(Operand<?> o) {
    return (Operand<TInt32>) o;
  }

  @SuppressWarnings("unchecked")
  private static Operand<TFloat32> float32(Operand<?> o) {
    return (Operand<TFloat32>) o;
  }

  private static float[] floats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
  }
}
