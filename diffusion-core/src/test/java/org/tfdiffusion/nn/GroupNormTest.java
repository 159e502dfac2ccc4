package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link GroupNorm} against PyTorch's {@code nn.GroupNorm(G, C, eps=1e-5)} written in double: mean
 * and biased variance over H, W and the C/G consecutive channels of each group, per image, then γ
 * and β per channel.
 */
class GroupNormTest {
  /**
   * Normalized values are O(1); float32 mean/variance over at most 3·4·8 = 96 values and one rsqrt
   * leave errors of a few 1e-7 (times |γ| ≤ 2). 1e-5 relative with a 1e-5 floor is a wide margin,
   * while normalizing over the wrong axes, a wrong grouping or an unbiased variance errs by far
   * more (the unbiased variance alone changes outputs by ~1%).
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  @ParameterizedTest(name = "{0}x{1}, {2} channels in {3} groups")
  @CsvSource({"3, 4, 8, 4", "3, 4, 8, 1", "2, 2, 8, 8", "4, 3, 6, 2"})
  void matchesPyTorchGroupNorm(int height, int width, int channels, int groups) {
    // Off-centre, wide input so that subtracting the mean and dividing by the std both matter.
    Nhwc x = Nhwc.gaussian(41, 2, height, width, channels, 3, 2);
    SeededWeights weights = new SeededWeights(42);
    double[] gamma = weights.gaussian("norm.weight", 1, 0.5, channels);
    double[] beta = weights.gaussian("norm.bias", 0, 0.5, channels);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                GroupNorm.apply(scope.child("norm"), x.constant(scope.tf()), channels, groups));

    assertThat(y.shape()).isEqualTo(x.shape());
    assertClose(
        "group norm", y.values(), ReferenceNn.groupNorm(x, groups, gamma, beta).data(), REL, ABS);
  }

  @Test
  void epsilonIsPyTorchsDefault() {
    // Variance 1e-5, comparable to ε: ε = 1e-5 halves the variance term's weight, so a different ε
    // (or none) changes the outputs by percents.
    Nhwc x = Nhwc.gaussian(48, 2, 3, 4, 8, 0, Math.sqrt(1e-5));
    SeededWeights weights = new SeededWeights(49);
    double[] gamma = weights.gaussian("norm.weight", 1, 0.5, 8);
    double[] beta = weights.gaussian("norm.bias", 0, 0.5, 8);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope -> GroupNorm.apply(scope.child("norm"), x.constant(scope.tf()), 8, 4));

    assertClose(
        "group norm, small variance",
        y.values(),
        ReferenceNn.groupNorm(x, 4, gamma, beta).data(),
        REL,
        ABS);
  }

  @Test
  void groupsAreIndependentPerImageAndPerGroup() {
    // Image 1 is image 0 scaled and shifted per group: with γ = 1, β = 0 both normalize the same
    // (up to ε = 1e-5 against variances >= 1, a relative change below 1e-5).
    int channels = 4;
    int groups = 2;
    Nhwc x = Nhwc.gaussian(43, 2, 3, 3, channels);
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        for (int c = 0; c < channels; c++) {
          double scale = c < 2 ? 10 : 3;
          double shift = c < 2 ? -5 : 7;
          x.set(1, i, j, c, (float) (x.get(0, i, j, c) * scale + shift));
        }
      }
    }
    SeededWeights weights = new SeededWeights(44);
    weights.fill("norm.weight", 1, channels);
    weights.fill("norm.bias", 0, channels);

    Nhwc y =
        weights
            .runInference(
                scope ->
                    GroupNorm.apply(scope.child("norm"), x.constant(scope.tf()), channels, groups))
            .nhwc();

    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        for (int c = 0; c < channels; c++) {
          assertThat(y.get(1, i, j, c))
              .as("(%s, %s, %s)", i, j, c)
              .isCloseTo(y.get(0, i, j, c), within(1e-4));
        }
      }
    }
  }

  @Test
  void recordsGammaAndBetaAsOnesAndZeros() {
    SeededWeights weights = new SeededWeights(45);
    weights.gaussian("block.norm1.weight", 1, 0.5, 8);
    weights.gaussian("block.norm1.bias", 0, 0.5, 8);
    Nhwc x = Nhwc.gaussian(46, 1, 2, 2, 8);

    ModelLedger ledger =
        weights
            .runInference(
                scope ->
                    GroupNorm.apply(
                        scope.child("block").child("norm1"), x.constant(scope.tf()), 8, 4))
            .ledger();

    assertThat(ledger.parameters().keySet())
        .containsExactly("block.norm1.weight", "block.norm1.bias");
    assertThat(ledger.parameters().get("block.norm1.weight").shape()).isEqualTo(Shape.of(8));
    assertThat(ledger.parameters().get("block.norm1.weight").initializer())
        .isEqualTo(Initializer.constant(1));
    assertThat(ledger.parameters().get("block.norm1.bias").initializer())
        .isEqualTo(Initializer.constant(0));
    assertThat(ledger.flops()).isEmpty();
  }

  @Test
  void rejectsChannelsNotDivisibleByGroups() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x = Nhwc.gaussian(47, 1, 2, 2, 6).constant(tf);

      assertThatThrownBy(() -> GroupNorm.apply(scope.child("mid").child("norm1"), x, 6, 4))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("mid.norm1")
          .hasMessageContaining("6 channels are not divisible by 4 groups");
    }
  }

  @Test
  void rejectsUnknownHeightOrWidth() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 4, 8)));

      assertThatThrownBy(() -> GroupNorm.apply(scope.child("norm"), x, 8, 4))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("needs static height and width");
    }
  }
}
