package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
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
import org.tfdiffusion.testing.NativeOps;
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

  /**
   * Both forms: the chain (centre, scale, γ and β) and the coefficient form ({@code x·a + b}) that
   * scopes with native convolutions build.
   */
  @ParameterizedTest(name = "{0}x{1}, {2} channels in {3} groups, coefficient form: {4}")
  @CsvSource({
    "3, 4, 8, 4, false",
    "3, 4, 8, 1, false",
    "2, 2, 8, 8, false",
    "4, 3, 6, 2, false",
    "3, 4, 8, 4, true",
    "3, 4, 8, 1, true",
    "2, 2, 8, 8, true"
  })
  void matchesPyTorchGroupNorm(
      int height, int width, int channels, int groups, boolean coefficientForm) {
    if (coefficientForm) {
      NativeOps.assumeNativeConv();
    }
    // Off-centre, wide input so that subtracting the mean and dividing by the std both matter.
    Nhwc x = Nhwc.gaussian(41, 2, height, width, channels, 3, 2);
    SeededWeights weights = new SeededWeights(42);
    double[] gamma = weights.gaussian("norm.weight", 1, 0.5, channels);
    double[] beta = weights.gaussian("norm.bias", 0, 0.5, channels);

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                GroupNorm.apply(
                    scope.withNativeConvolutions(coefficientForm).child("norm"),
                    x.constant(scope.tf()),
                    channels,
                    groups));

    assertThat(y.shape()).isEqualTo(x.shape());
    assertClose(
        "group norm", y.values(), ReferenceNn.groupNorm(x, groups, gamma, beta).data(), REL, ABS);
  }

  /**
   * dL/dx, dL/dγ and dL/dβ of {@code L = Σ r ⊙ GroupNorm(x)}, in both forms, against central
   * differences of the double-precision reference (step 1e-4: truncation error about 1e-8 times the
   * third derivative, rounding about 1e-12), within 1e-4 of the float32 graph's gradients.
   */
  @ParameterizedTest(name = "coefficient form: {0}")
  @CsvSource({"false", "true"})
  void gradientsMatchCentralDifferences(boolean coefficientForm) {
    if (coefficientForm) {
      NativeOps.assumeNativeConv();
    }
    int groups = 2;
    Nhwc x = Nhwc.gaussian(51, 2, 3, 2, 4, 1, 1.5);
    Nhwc r = Nhwc.gaussian(52, 2, 3, 2, 4);
    SeededWeights weights = new SeededWeights(53);
    double[] gamma = weights.gaussian("norm.weight", 1, 0.5, 4);
    double[] beta = weights.gaussian("norm.bias", 0, 0.5, 4);
    List<float[]> grads = new ArrayList<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xIn = x.constant(tf);
      Map<String, Operand<TFloat32>> constants = weights.constants(tf);
      NetScope scope =
          NetScope.inference(tf, new BoundParameters(constants))
              .withNativeConvolutions(coefficientForm);
      Operand<TFloat32> y = GroupNorm.apply(scope.child("norm"), xIn, 4, groups);
      Operand<TFloat32> loss =
          tf.reduceSum(tf.math.mul(y, r.constant(tf)), tf.constant(new int[] {0, 1, 2, 3}));
      Gradients d =
          tf.gradients(
              loss, List.of(xIn, constants.get("norm.weight"), constants.get("norm.bias")));
      try (Session s = new Session(g);
          Result res = s.runner().fetch(d.dy(0)).fetch(d.dy(1)).fetch(d.dy(2)).run()) {
        for (int i = 0; i < 3; i++) {
          grads.add(TensorIO.toFloats(res.get(i)));
        }
      }
    }
    double[][] params = {x.data().clone(), gamma.clone(), beta.clone()};
    Function<double[][], Double> lossOf =
        p -> {
          Nhwc in = new Nhwc(x.batch(), x.height(), x.width(), x.channels(), p[0]);
          double[] out = ReferenceNn.groupNorm(in, groups, p[1], p[2]).data();
          double sum = 0;
          for (int i = 0; i < out.length; i++) {
            sum += out[i] * r.data()[i];
          }
          return sum;
        };
    double step = 1e-4;
    String[] names = {"dL/dx", "dL/dgamma", "dL/dbeta"};
    for (int which = 0; which < 3; which++) {
      double[] numeric = new double[params[which].length];
      for (int i = 0; i < numeric.length; i++) {
        double keep = params[which][i];
        params[which][i] = keep + step;
        double up = lossOf.apply(params);
        params[which][i] = keep - step;
        double down = lossOf.apply(params);
        params[which][i] = keep;
        numeric[i] = (up - down) / (2 * step);
      }
      assertClose(names[which], grads.get(which), numeric, 1e-4, 1e-4);
    }
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
