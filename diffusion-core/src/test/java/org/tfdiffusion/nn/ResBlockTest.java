package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link ResBlock} against the tutorial's {@code ResidualBlock} composed from the plain-Java
 * reference ops: norm1 → SiLU → conv1, + time_proj(emb) broadcast over H and W, norm2 → SiLU →
 * conv2, + x (or a 1×1 conv of x when the widths differ).
 */
class ResBlockTest {
  /**
   * Float32 through two group norms and two 3×3 convolutions of up to 144 terms: errors of a few
   * 1e-7 relative to O(1) activations, amplified at most by the second norm's 1/σ. 1e-5 relative
   * with a 1e-5 floor holds with margin; a missing time term, a wrong order of norm and SiLU or a
   * missing skip changes outputs by O(0.1-1).
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  private static final int BATCH = 2;
  private static final int SIZE = 4;
  private static final int EMB_DIM = 12;

  @ParameterizedTest(name = "{0} -> {1} channels, {2} groups")
  @CsvSource({"8, 16, 4", "8, 16, 8", "8, 8, 4", "16, 8, 8"})
  void matchesTheTutorialsResidualBlock(int in, int out, int groups) {
    Nhwc x = Nhwc.gaussian(61, BATCH, SIZE, SIZE, in, 0.5, 1.5);
    float[] emb = GraphRunner.gaussian(62, BATCH * EMB_DIM);
    SeededWeights weights = blockWeights(63, "res", in, out);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                ResBlock.apply(
                    scope.child("res"),
                    x.constant(scope.tf()),
                    scope.tf().constant(Shape.of(BATCH, EMB_DIM), DataBuffers.of(emb, true, false)),
                    in,
                    out,
                    EMB_DIM,
                    groups,
                    // Dropout must be inactive in an inference scope.
                    0.5));

    assertThat(y.shape()).isEqualTo(Shape.of(BATCH, SIZE, SIZE, out));
    Nhwc expected =
        ReferenceNn.resBlock(x, toDoubles(emb), out, EMB_DIM, groups, weights::get, "res.");
    assertClose("res block", y.values(), expected.data(), REL, ABS);
    // The block asks for exactly the tutorial's weights (plus the 1x1 skip when widths differ).
    assertThat(y.ledger().parameters().keySet())
        .containsExactlyInAnyOrderElementsOf(weights.names());
    assertThat(y.ledger().flops())
        .containsEntry("res.conv1", 2L * 9 * in * out * SIZE * SIZE)
        .containsEntry("res.conv2", 2L * 9 * out * out * SIZE * SIZE)
        .containsEntry("res.time_proj", 2L * EMB_DIM * out);
  }

  /** Weights of a block under {@code prefix}, at PyTorch's initial scales but with γ ≠ 1, β ≠ 0. */
  private static SeededWeights blockWeights(long seed, String prefix, int in, int out) {
    SeededWeights w = new SeededWeights(seed);
    String p = prefix + ".";
    if (in != out) {
      w.uniform(p + "skip.weight", 1 / Math.sqrt(in), 1, 1, in, out);
      w.uniform(p + "skip.bias", 1 / Math.sqrt(in), out);
    }
    w.gaussian(p + "norm1.weight", 1, 0.3, in);
    w.gaussian(p + "norm1.bias", 0, 0.3, in);
    w.uniform(p + "conv1.weight", 1 / Math.sqrt(9.0 * in), 3, 3, in, out);
    w.uniform(p + "conv1.bias", 1 / Math.sqrt(9.0 * in), out);
    w.uniform(p + "time_proj.weight", 1 / Math.sqrt(EMB_DIM), EMB_DIM, out);
    w.uniform(p + "time_proj.bias", 1 / Math.sqrt(EMB_DIM), out);
    w.gaussian(p + "norm2.weight", 1, 0.3, out);
    w.gaussian(p + "norm2.bias", 0, 0.3, out);
    w.uniform(p + "conv2.weight", 1 / Math.sqrt(9.0 * out), 3, 3, out, out);
    w.uniform(p + "conv2.bias", 1 / Math.sqrt(9.0 * out), out);
    return w;
  }

  private static double[] toDoubles(float[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }
}
