package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.ndarray.Shape;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link TimeEmbedding} against the tutorial's {@code _get_time_embedding}: half = d/2, f_k =
 * exp(-ln(10000)·k/(half-1)), features [sin(t f), cos(t f)], then Linear(d, 4d) → SiLU → Linear(4d,
 * d).
 */
class TimeEmbeddingTest {
  private static final int[] TIMESTEPS = {0, 1, 17, 500, 999};

  /** float32 unit roundoff. */
  private static final double FLOAT_ULP = 0x1p-24;

  @ParameterizedTest(name = "d={0}")
  @ValueSource(ints = {4, 32, 128})
  void frequenciesFollowTheTutorialFormula(int dim) {
    int half = dim / 2;
    double[] f = TimeEmbedding.frequencies(dim);

    assertThat(f).hasSize(half);
    for (int k = 0; k < half; k++) {
      assertThat(f[k])
          .as("f_%s", k)
          .isCloseTo(Math.exp(-Math.log(10000) * k / (half - 1)), within(1e-15));
    }
    // The sinusoids run from period 2π (f_0 = 1) to period 2π·10000.
    assertThat(f[0]).isEqualTo(1.0);
    assertThat(f[half - 1]).isCloseTo(1e-4, within(1e-18));
  }

  @Test
  void frequenciesRejectOddOrTinySizes() {
    assertThatThrownBy(() -> TimeEmbedding.frequencies(7))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("even and >= 4, got 7");
    assertThatThrownBy(() -> TimeEmbedding.frequencies(2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got 2");
  }

  @ParameterizedTest(name = "d={0}")
  @ValueSource(ints = {32, 128})
  void sinusoidalFeaturesMatchTheTutorial(int dim) {
    long[] t = new long[TIMESTEPS.length];
    for (int i = 0; i < t.length; i++) {
      t[i] = TIMESTEPS[i];
    }
    float[] features = GraphRunner.eval(tf -> TimeEmbedding.sinusoidal(tf, tf.constant(t), dim));

    assertThat(features).hasSize(TIMESTEPS.length * dim);
    double[] f = TimeEmbedding.frequencies(dim);
    for (int i = 0; i < TIMESTEPS.length; i++) {
      double[] expected = ReferenceNn.sinusoidal(TIMESTEPS[i], dim);
      for (int j = 0; j < dim; j++) {
        // The graph forms the argument t·f_k in float32 (f_k and the product each rounded, as in
        // PyTorch), an absolute error up to 2·2⁻²⁴·t·f_k: 1.2e-4 at t = 999, k = 0. Allow twice
        // that plus 1e-6 for sin/cos themselves; a wrong frequency or a sin/cos swap errs by
        // O(0.1).
        double argument = TIMESTEPS[i] * f[j % (dim / 2)];
        double tolerance = 1e-6 + 4 * FLOAT_ULP * argument;
        assertThat((double) features[i * dim + j])
            .as("t=%s, feature %s", TIMESTEPS[i], j)
            .isCloseTo(expected[j], within(tolerance));
      }
    }
  }

  @Test
  void timestepZeroIsZerosThenOnes() {
    float[] features =
        GraphRunner.eval(tf -> TimeEmbedding.sinusoidal(tf, tf.constant(new int[] {0}), 8));

    assertThat(features).containsExactly(0, 0, 0, 0, 1, 1, 1, 1);
  }

  @Test
  void mlpMatchesLinearSiluLinear() {
    int dim = 16;
    int hidden = 4 * dim;
    // Small t keeps the float32 argument error (see above) below 1e-5 so the MLP is compared
    // tightly.
    int[] t = {0, 3, 40};
    SeededWeights weights = new SeededWeights(51);
    weights.uniform("time_embed.mlp_0.weight", 1 / Math.sqrt(dim), dim, hidden);
    weights.uniform("time_embed.mlp_0.bias", 1 / Math.sqrt(dim), hidden);
    weights.uniform("time_embed.mlp_2.weight", 1 / Math.sqrt(hidden), hidden, dim);
    weights.uniform("time_embed.mlp_2.bias", 1 / Math.sqrt(hidden), dim);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope -> TimeEmbedding.apply(scope.child("time_embed"), scope.tf().constant(t), dim));

    assertThat(y.shape()).isEqualTo(Shape.of(t.length, dim));
    double[] expected =
        ReferenceNn.timeEmbedding(new double[] {0, 3, 40}, dim, weights::get, "time_embed.");
    // Two float32 layers of 16 and 64 terms on O(1) values: 1e-5 relative with a 1e-5 floor.
    assertClose("time embedding", y.values(), expected, 1e-5, 1e-5);
    assertThat(y.ledger().parameters().keySet())
        .containsExactly(
            "time_embed.mlp_0.weight",
            "time_embed.mlp_0.bias",
            "time_embed.mlp_2.weight",
            "time_embed.mlp_2.bias");
    assertThat(y.ledger().parameters().get("time_embed.mlp_0.weight").shape())
        .isEqualTo(Shape.of(dim, hidden));
    assertThat(y.ledger().parameters().get("time_embed.mlp_2.weight").shape())
        .isEqualTo(Shape.of(hidden, dim));
    assertThat(y.ledger().flops())
        .containsExactly(
            Map.entry("time_embed.mlp_0", 2L * dim * hidden),
            Map.entry("time_embed.mlp_2", 2L * hidden * dim));
  }
}
