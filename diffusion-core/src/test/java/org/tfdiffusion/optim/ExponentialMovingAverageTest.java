package org.tfdiffusion.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Map;
import java.util.function.Function;
import java.util.function.LongToDoubleFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.TensorIO;

class ExponentialMovingAverageTest {

  private static final float[] START = {1f, -2f, 0.5f};

  /** The weights at step n = 1, 2, ...: they move every step. */
  private static float[] weightsAt(int step) {
    return new float[] {step, -step * 0.5f, 2f / step};
  }

  /** The shadow of weights that take {@link #weightsAt} values, after {@code steps} updates. */
  private static float[] shadowInGraph(Function<Ops, ExponentialMovingAverage> make, int steps) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> w = tf.withName("w").variable(tf.constant(START));
      Placeholder<TFloat32> newValue = tf.placeholder(TFloat32.class);
      Op set = tf.assign(w, newValue);
      ExponentialMovingAverage ema = make.apply(tf);
      Variable<TFloat32> shadow = ema.track("w", tf.withInitScope().constant(START));
      Placeholder<TInt64> n = tf.placeholder(TInt64.class);
      Op update = ema.update(Map.of("w", w), n, java.util.List.of());
      try (Session s = new Session(g)) {
        for (int step = 1; step <= steps; step++) {
          try (TFloat32 v = TFloat32.vectorOf(weightsAt(step))) {
            s.runner().feed(newValue, v).addTarget(set).run().close();
          }
          try (TInt64 count = TInt64.scalarOf(step)) {
            s.runner().feed(n, count).addTarget(update).run().close();
          }
        }
        try (Result r = s.runner().fetch(shadow).run()) {
          return TensorIO.toFloats(r.get(0));
        }
      }
    }
  }

  /** The same average in plain Java double precision, with the decay d_n given per step. */
  private static double[] shadowInJava(LongToDoubleFunction decay, int steps) {
    double[] expected = {START[0], START[1], START[2]};
    for (int step = 1; step <= steps; step++) {
      double d = decay.applyAsDouble(step);
      float[] value = weightsAt(step);
      for (int i = 0; i < 3; i++) {
        expected[i] = d * expected[i] + (1 - d) * value[i];
      }
    }
    return expected;
  }

  private static void assertClose(float[] actual, double[] expected, double tolerance) {
    for (int i = 0; i < 3; i++) {
      assertThat((double) actual[i]).isCloseTo(expected[i], within(tolerance));
    }
  }

  @ParameterizedTest(name = "warmup {0}")
  @ValueSource(booleans = {false, true})
  void tracksTheWeightsLikePlainJava(boolean warmup) {
    double decay = 0.9;
    assertClose(
        shadowInGraph(tf -> new ExponentialMovingAverage(tf, decay, warmup), 5),
        shadowInJava(n -> warmup ? Math.min(decay, (1.0 + n) / (10.0 + n)) : decay, 5),
        1e-5);
  }

  @Test
  void powerFunctionTracksTheWeightsLikePlainJava() {
    double gamma = 6.94;
    assertClose(
        shadowInGraph(tf -> ExponentialMovingAverage.power(tf, gamma), 40),
        shadowInJava(n -> Math.pow(1.0 - 1.0 / n, gamma + 1), 40),
        1e-4);
  }

  @Test
  void powerFunctionForgetsTheInitialWeightsAtTheFirstStep() {
    // d_1 = (1 - 1/1)^(γ + 1) = 0: after one update the average is that step's weights
    assertThat(shadowInGraph(tf -> ExponentialMovingAverage.power(tf, 6.94), 1))
        .containsExactly(weightsAt(1));
    try (Graph g = new Graph()) {
      assertThat(ExponentialMovingAverage.power(Ops.create(g), 6.94).keepsShadows()).isTrue();
    }
  }

  @Test
  void powerFunctionAveragesInProportionToStepToTheGamma() {
    // Karras et al. 2024: the power-function EMA of a sequence of weights θ_k is close to the
    // average weighted by k^γ; for θ_k = k that is Σ k^(γ+1) / Σ k^γ.
    double gamma = 3;
    long steps = 2000;
    double ema = 0;
    double num = 0;
    double den = 0;
    for (long k = 1; k <= steps; k++) {
      double d = ExponentialMovingAverage.powerDecayAt(gamma, k);
      ema = d * ema + (1 - d) * k;
      num += Math.pow(k, gamma + 1);
      den += Math.pow(k, gamma);
    }
    assertThat(ema / (num / den)).isCloseTo(1.0, within(2e-3));
  }

  @Test
  void sigmaRelMatchesThePublishedPairs() {
    // Karras et al. 2024, section 3.1: γ = 16.97 for σ_rel = 0.05 and γ = 6.94 for σ_rel = 0.10
    assertThat(ExponentialMovingAverage.sigmaRel(16.97)).isCloseTo(0.05, within(5e-5));
    assertThat(ExponentialMovingAverage.sigmaRel(6.94)).isCloseTo(0.10, within(5e-5));
  }

  @Test
  void refusesBadPower() {
    try (Graph g = new Graph()) {
      assertThatThrownBy(() -> ExponentialMovingAverage.power(Ops.create(g), 0))
          .hasMessageContaining("EMA power must be > 0, got 0.0");
    }
  }

  @Test
  void decayFormula() {
    assertThat(ExponentialMovingAverage.decayAt(0.999, true, 1)).isCloseTo(2.0 / 11, within(1e-15));
    assertThat(ExponentialMovingAverage.decayAt(0.999, true, 100_000)).isEqualTo(0.999);
    assertThat(ExponentialMovingAverage.decayAt(0.5, false, 1)).isEqualTo(0.5);
  }

  @Test
  void decayZeroKeepsNoShadowAndAveragesAreTheWeights() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> w = tf.withName("w").variable(tf.constant(new float[] {1f, 2f}));
      ExponentialMovingAverage ema = new ExponentialMovingAverage(tf, 0, true);
      assertThat(ema.keepsShadows()).isFalse();
      assertThatThrownBy(() -> ema.track("w", tf.withInitScope().constant(new float[] {1f, 2f})))
          .hasMessageContaining("decay 0 is the weights themselves");
      assertThat(ema.shadows()).isEmpty();
      assertThat(ema.averages(Map.of("w", w))).containsExactly(Map.entry("w", w));
      Op update = ema.update(Map.of("w", w), tf.constant(1L), java.util.List.of());
      try (Session s = new Session(g)) {
        s.runner().addTarget(update).run().close();
        try (Result r = s.runner().fetch(w).run()) {
          assertThat(TensorIO.toFloats(r.get(0))).containsExactly(1f, 2f);
        }
      }
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ExponentialMovingAverage ema = new ExponentialMovingAverage(tf, 0.5, false);
      Variable<TFloat32> w = tf.withName("w").variable(tf.constant(new float[] {1f}));
      Variable<TFloat32> shadow = ema.track("w", tf.withInitScope().constant(new float[] {1f}));
      assertThat(ema.averages(Map.of("w", w))).containsExactly(Map.entry("w", shadow));
    }
  }

  @Test
  void refusesBadDecay() {
    try (Graph g = new Graph()) {
      assertThatThrownBy(() -> new ExponentialMovingAverage(Ops.create(g), 1.0, true))
          .hasMessageContaining("EMA decay must be in [0, 1), got 1.0");
    }
  }
}
