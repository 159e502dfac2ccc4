package org.tfdiffusion.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.graph.TensorIO;

/** AdamW's graph update against PyTorch's AdamW + clip_grad_norm_ written out in plain Java. */
class AdamWTest {
  private static final double LR = 0.01;

  /** Plain-Java torch.optim.AdamW with clip_grad_norm_, in double. */
  private static final class Reference {
    final double[][] theta;
    final double[][] m;
    final double[][] v;
    final AdamWConfig c;

    Reference(float[][] init, AdamWConfig c) {
      this.c = c;
      theta = new double[init.length][];
      m = new double[init.length][];
      v = new double[init.length][];
      for (int i = 0; i < init.length; i++) {
        theta[i] = new double[init[i].length];
        for (int j = 0; j < init[i].length; j++) {
          theta[i][j] = init[i][j];
        }
        m[i] = new double[init[i].length];
        v[i] = new double[init[i].length];
      }
    }

    void step(float[][] grads, int t, double lr) {
      // The graph holds β₁, β₂ and ε as float32: 1 - (float) 0.999 differs from 0.001 by 1.3e-5
      // relative, which v inherits. The reference uses the same rounded constants.
      double beta1 = (float) c.beta1();
      double beta2 = (float) c.beta2();
      double sq = 0;
      for (float[] g : grads) {
        for (float x : g) {
          sq += (double) x * x;
        }
      }
      double norm = Math.sqrt(sq);
      double scale = c.clipNorm() > 0 ? Math.min(1.0, c.clipNorm() / (norm + 1e-6)) : 1.0;
      for (int i = 0; i < theta.length; i++) {
        for (int j = 0; j < theta[i].length; j++) {
          double g = grads[i][j] * scale;
          theta[i][j] *= 1 - lr * c.weightDecay();
          m[i][j] = beta1 * m[i][j] + (1 - beta1) * g;
          v[i][j] = beta2 * v[i][j] + (1 - beta2) * g * g;
          double mHat = m[i][j] / (1 - Math.pow(beta1, t));
          double vHat = v[i][j] / (1 - Math.pow(beta2, t));
          theta[i][j] -= lr * mHat / (Math.sqrt(vHat) + c.epsilon());
        }
      }
    }
  }

  @ParameterizedTest(name = "clip norm {0}")
  @ValueSource(doubles = {0.0, 0.5, 100.0})
  void threeStepsMatchPlainJava(double clipNorm) {
    AdamWConfig config = new AdamWConfig(0.9, 0.999, 1e-8, 0.1, clipNorm);
    Random random = new Random(17);
    float[][] init = {randoms(random, 6), randoms(random, 4)};
    Shape[] shapes = {Shape.of(3, 2), Shape.of(4)};
    Reference reference = new Reference(init, config);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Map<String, Variable<TFloat32>> weights = new LinkedHashMap<>();
      Map<String, Operand<TFloat32>> grads = new LinkedHashMap<>();
      List<Placeholder<TFloat32>> gradInputs =
          List.of(
              tf.placeholder(TFloat32.class, Placeholder.shape(shapes[0])),
              tf.placeholder(TFloat32.class, Placeholder.shape(shapes[1])));
      for (int i = 0; i < 2; i++) {
        String name = "w" + i;
        weights.put(
            name, tf.withName(name).variable(tf.constant(TensorIO.floats(shapes[i], init[i]))));
        grads.put(name, gradInputs.get(i));
      }
      Placeholder<TFloat32> lr = tf.placeholder(TFloat32.class);
      Placeholder<TInt64> step = tf.placeholder(TInt64.class);
      AdamW adamw = new AdamW(tf, config);
      AdamW.Update update = adamw.update(weights, grads, lr, step);
      try (Session s = new Session(g)) {
        for (int t = 1; t <= 3; t++) {
          float[][] stepGrads = {randoms(random, 6), randoms(random, 4)};
          try (TFloat32 g0 = TensorIO.floats(shapes[0], stepGrads[0]);
              TFloat32 g1 = TensorIO.floats(shapes[1], stepGrads[1]);
              TFloat32 lrValue = TFloat32.scalarOf((float) LR);
              TInt64 stepValue = TInt64.scalarOf(t);
              Result r =
                  s.runner()
                      .feed(gradInputs.get(0), g0)
                      .feed(gradInputs.get(1), g1)
                      .feed(lr, lrValue)
                      .feed(step, stepValue)
                      .addTarget(update.op())
                      .fetch(update.gradientNorm())
                      .run()) {
            double expectedNorm = 0;
            for (float[] gr : stepGrads) {
              for (float x : gr) {
                expectedNorm += (double) x * x;
              }
            }
            assertThat(TensorIO.toFloats(r.get(0))[0])
                .isCloseTo((float) Math.sqrt(expectedNorm), within(1e-5f));
          }
          reference.step(stepGrads, t, LR);
        }
        for (int i = 0; i < 2; i++) {
          assertClose(fetch(s, weights.get("w" + i)), reference.theta[i], "theta " + i);
          assertClose(fetch(s, adamw.firstMoments().get("w" + i)), reference.m[i], "m " + i);
          assertClose(fetch(s, adamw.secondMoments().get("w" + i)), reference.v[i], "v " + i);
        }
      }
    }
  }

  @Test
  void slotsStartAtZerosFilledWhenTheSessionRunsNotFoldedIntoTheGraph() {
    // Four weights of two shapes: eight zero-filled slots. Under XLA, TensorFlow folded most fills
    // of constants into constants kept for the session's life (the small model ran 26 fills for 188
    // slots and its norm weights).
    Shape[] shapes = {Shape.of(3, 3, 64, 64), Shape.of(64)};
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Map<String, Variable<TFloat32>> weights = new LinkedHashMap<>();
      Map<String, Operand<TFloat32>> grads = new LinkedHashMap<>();
      for (int i = 0; i < 4; i++) {
        Shape shape = shapes[i % 2];
        Operand<TFloat32> ones = tf.fill(tf.constant(shape), tf.constant(1f));
        weights.put("w" + i, tf.withName("w" + i).variable(tf.withInitScope().identity(ones)));
        grads.put("w" + i, ones);
      }
      AdamW adamw = new AdamW(tf, new AdamWConfig(0.9, 0.999, 1e-8, 0.1, 0));
      adamw.update(weights, grads, tf.constant(0.1f), tf.constant(1L));
      try (Session s = new Session(g, SessionOptions.defaults().withXla(true).toConfigProto())) {
        StepProfile init = StepProfile.traceInitializers(s);
        assertThat(init.rows())
            .filteredOn(row -> row.opType().equals("Fill"))
            .singleElement()
            .satisfies(row -> assertThat(row.count()).isGreaterThanOrEqualTo(8));
        for (int i = 0; i < 4; i++) {
          assertThat(fetch(s, adamw.firstMoments().get("w" + i))).containsOnly(0f);
          assertThat(fetch(s, adamw.secondMoments().get("w" + i))).containsOnly(0f);
        }
      }
    }
  }

  private static void assertClose(float[] actual, double[] expected, String what) {
    assertThat(actual).hasSize(expected.length);
    for (int j = 0; j < expected.length; j++) {
      // float32 state after three steps: 1e-6 relative plus a 1e-7 floor for values near 0
      assertThat((double) actual[j])
          .as("%s[%s]", what, j)
          .isCloseTo(expected[j], within(1e-6 * Math.abs(expected[j]) + 1e-7));
    }
  }

  private static float[] fetch(Session s, Operand<TFloat32> x) {
    try (Result r = s.runner().fetch(x).run()) {
      return TensorIO.toFloats(r.get(0));
    }
  }

  private static float[] randoms(Random random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }
}
