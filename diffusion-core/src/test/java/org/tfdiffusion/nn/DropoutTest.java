package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.testing.GraphRunner;

/**
 * {@link Dropout}: identity at inference; in training, inverted dropout (zero with probability p,
 * keep scaled by 1/(1-p)) with masks that are a pure function of the fed step seed and the site.
 */
class DropoutTest {
  /** Elements per draw: the zero fraction's standard deviation is √(p(1-p)/n) ≤ 0.0016. */
  private static final int N = 100_000;

  /** Statistical checks allow this many standard deviations (false alarm below 1e-6). */
  private static final double SIGMAS = 5;

  private static final float[] X = GraphRunner.gaussian(91, N);

  @Test
  void inferenceScopeIsIdentity() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x = tf.constant(X);

      assertThat(scope.training()).isFalse();
      assertThat(Dropout.apply(scope, x, 0.5)).isSameAs(x);
      assertThatThrownBy(scope::nextDropoutSeed)
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("training scope");
    }
  }

  @Test
  void rateZeroIsIdentityInTraining() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          NetScope.training(tf, new VariableParameters(tf, 1), tf.constant(new long[] {1, 2}));
      Operand<TFloat32> x = tf.constant(X);

      assertThat(scope.training()).isTrue();
      assertThat(Dropout.apply(scope, x, 0)).isSameAs(x);
    }
  }

  @Test
  void rejectsRatesOutsideZeroToOne() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x = tf.constant(X);

      assertThatThrownBy(() -> Dropout.apply(scope, x, 1.0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("[0, 1), got 1.0");
      assertThatThrownBy(() -> Dropout.apply(scope, x, -0.1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got -0.1");
    }
  }

  @ParameterizedTest(name = "p={0}")
  @ValueSource(doubles = {0.1, 0.3, 0.5})
  void zeroesAboutRateAndScalesTheRestByOneOverOneMinusRate(double rate) {
    float[] y = dropout(X, rate, new long[] {7, 11}).get(0);
    float[] ones = dropout(onesLike(X), rate, new long[] {7, 12}).get(0);

    int zeros = 0;
    int wrongScale = 0;
    int firstWrong = -1;
    for (int i = 0; i < N; i++) {
      if (y[i] == 0) {
        zeros++;
      } else if (Math.abs(y[i] - X[i] / (1 - rate)) > 1e-6 * (1 + Math.abs(X[i]) / (1 - rate))) {
        wrongScale++;
        firstWrong = firstWrong < 0 ? i : firstWrong;
      }
    }
    assertThat(wrongScale).as("kept values not x/(1-p); first at %s", firstWrong).isZero();
    double zeroFraction = (double) zeros / N;
    assertThat(zeroFraction).isCloseTo(rate, within(SIGMAS * Math.sqrt(rate * (1 - rate) / N)));

    // Inverted dropout preserves the mean: E[y] = x. For x = 1 the sample mean has standard
    // deviation √(p / ((1-p) n)).
    double sum = 0;
    for (float v : ones) {
      sum += v;
    }
    assertThat(sum / N).isCloseTo(1.0, within(SIGMAS * Math.sqrt(rate / ((1 - rate) * N))));
  }

  @Test
  void sameSeedSameMaskAndDifferentSeedDifferentMask() {
    double rate = 0.3;
    List<float[]> first =
        dropout(
            X, rate, new long[] {5, 6}, new long[] {5, 6}, new long[] {5, 7}, new long[] {6, 6});
    float[] again = dropout(X, rate, new long[] {5, 6}).get(0);

    // Same seed: identical in the same session and in a freshly built graph.
    assertThat(first.get(1)).containsExactly(first.get(0));
    assertThat(again).containsExactly(first.get(0));
    // Different seeds (either word): independent masks disagree on about 2p(1-p) = 42% of entries.
    assertThat(maskDisagreement(first.get(0), first.get(2))).isGreaterThan(rate * (1 - rate));
    assertThat(maskDisagreement(first.get(0), first.get(3))).isGreaterThan(rate * (1 - rate));
  }

  @Test
  void twoSitesInOneStepDrawDifferentMasks() {
    double rate = 0.3;
    List<float[]> y =
        GraphRunner.evalAll(
            tf -> {
              NetScope scope =
                  NetScope.training(
                      tf, new VariableParameters(tf, 1), tf.constant(new long[] {3, 4}));
              Operand<TFloat32> x = tf.constant(X);
              return List.of(
                  Dropout.apply(scope.child("a"), x, rate),
                  Dropout.apply(scope.child("b"), x, rate));
            });

    assertThat(maskDisagreement(y.get(0), y.get(1))).isGreaterThan(rate * (1 - rate));
  }

  /**
   * A trainer naturally feeds step seeds {run, step}. Site j of step k must not reuse the mask of
   * another site of a nearby step (with "seed + site" derivations, site 1 of step k and site 0 of
   * step k + 1 draw from the same seed and, for same-shaped maps, get the same mask).
   */
  @Test
  void consecutiveStepSeedsDoNotReuseMasksAcrossSites() {
    double rate = 0.3;
    List<float[][]> steps = new ArrayList<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seed = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      NetScope scope = NetScope.training(tf, new VariableParameters(tf, 1), seed);
      Operand<TFloat32> x = tf.constant(X);
      Operand<TFloat32> site0 = Dropout.apply(scope.child("res_0"), x, rate);
      Operand<TFloat32> site1 = Dropout.apply(scope.child("res_1"), x, rate);
      try (Session s = new Session(g)) {
        for (long step = 10; step <= 11; step++) {
          try (TInt64 fed = TensorIO.longs(5, step);
              Result r = s.runner().feed(seed, fed).fetch(site0).fetch(site1).run()) {
            steps.add(new float[][] {TensorIO.toFloats(r.get(0)), TensorIO.toFloats(r.get(1))});
          }
        }
      }
    }

    assertThat(maskDisagreement(steps.get(0)[1], steps.get(1)[0]))
        .as("site 1 of step 10 vs site 0 of step 11")
        .isGreaterThan(rate * (1 - rate));
    assertThat(maskDisagreement(steps.get(0)[0], steps.get(1)[1]))
        .as("site 0 of step 10 vs site 1 of step 11")
        .isGreaterThan(rate * (1 - rate));
  }

  /** Runs dropout on {@code x} in a training graph once per fed seed (one session). */
  private static List<float[]> dropout(float[] x, double rate, long[]... seeds) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seed = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      NetScope scope = NetScope.training(tf, new VariableParameters(tf, 1), seed);
      Operand<TFloat32> y =
          Dropout.apply(
              scope, tf.constant(Shape.of(x.length), DataBuffers.of(x, true, false)), rate);
      List<float[]> out = new ArrayList<>();
      try (Session s = new Session(g)) {
        for (long[] value : seeds) {
          try (TInt64 fed = TensorIO.longs(value);
              Result r = s.runner().feed(seed, fed).fetch(y).run()) {
            out.add(TensorIO.toFloats(r.get(0)));
          }
        }
      }
      return out;
    }
  }

  private static double maskDisagreement(float[] a, float[] b) {
    int differ = 0;
    for (int i = 0; i < a.length; i++) {
      if ((a[i] == 0) != (b[i] == 0)) {
        differ++;
      }
    }
    return (double) differ / a.length;
  }

  private static float[] onesLike(float[] x) {
    float[] out = new float[x.length];
    Arrays.fill(out, 1f);
    return out;
  }
}
