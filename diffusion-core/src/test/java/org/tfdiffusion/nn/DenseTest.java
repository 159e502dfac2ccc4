package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link Dense} against a plain matrix product plus bias (PyTorch's Linear with W stored [in,
 * out]).
 */
class DenseTest {
  /**
   * Float32 dot products of {@value #IN} order-1 terms against the same inputs in double: rounding
   * is a few 1e-7; 1e-5 relative with a 1e-5 floor (sums that cancel to near 0) keeps a wide margin
   * while a transposed weight or a missing bias errs by O(0.1).
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  private static final int ROWS = 3;
  private static final int IN = 7;
  private static final int OUT = 5;

  @Test
  void matchesMatrixProductPlusBias() {
    float[] x = GraphRunner.gaussian(31, ROWS * IN);
    SeededWeights weights = new SeededWeights(32);
    double[] w = weights.uniform("proj.weight", 1, IN, OUT);
    double[] b = weights.uniform("proj.bias", 1, OUT);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                Dense.apply(
                    scope.child("proj"),
                    scope.tf().constant(Shape.of(ROWS, IN), DataBuffers.of(x, true, false)),
                    IN,
                    OUT));

    assertThat(y.shape()).isEqualTo(Shape.of(ROWS, OUT));
    assertClose(
        "dense", y.values(), ReferenceNn.dense(toDoubles(x), ROWS, IN, w, b, OUT), REL, ABS);
  }

  @Test
  void recordsWeightsAndFlopsPerImage() {
    long rowsPerImage = 16;
    SeededWeights weights = new SeededWeights(33);
    weights.uniform("attn.q.weight", 1, IN, OUT);
    weights.uniform("attn.q.bias", 1, OUT);
    float[] x = GraphRunner.gaussian(34, ROWS * IN);

    ModelLedger ledger =
        weights
            .runInference(
                scope ->
                    Dense.apply(
                        scope.child("attn").child("q"),
                        scope.tf().constant(Shape.of(ROWS, IN), DataBuffers.of(x, true, false)),
                        IN,
                        OUT,
                        rowsPerImage))
            .ledger();

    assertThat(ledger.flops()).containsExactly(Map.entry("attn.q", 2L * IN * OUT * rowsPerImage));
    assertThat(ledger.parameters().keySet()).containsExactly("attn.q.weight", "attn.q.bias");
    assertThat(ledger.parameters().get("attn.q.weight").shape()).isEqualTo(Shape.of(IN, OUT));
    assertThat(ledger.parameters().get("attn.q.bias").shape()).isEqualTo(Shape.of(OUT));
    // PyTorch's Linear default: U(-1/√in, 1/√in) for weight and bias.
    assertThat(ledger.parameters().get("attn.q.weight").initializer())
        .isEqualTo(Initializer.uniform(1 / Math.sqrt(IN)));
    assertThat(ledger.parameters().get("attn.q.bias").initializer())
        .isEqualTo(Initializer.uniform(1 / Math.sqrt(IN)));
  }

  private static double[] toDoubles(float[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }
}
