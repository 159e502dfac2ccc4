package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;

class ClassifierFreeGuidanceTest {
  private static final int B = 3;
  private static final int N = 2 * 2 * 1;

  /**
   * A label-dependent dummy network: ε = x · (t + 1) / 1000 + 0.1 · label, so the conditional and
   * the null-label predictions differ in a known way.
   */
  private static final ClassifierFreeGuidance.ConditionalNetwork NET =
      (tf, w, x, t, labels) -> {
        Operand<TFloat32> tScale =
            tf.reshape(
                tf.math.div(
                    tf.math.add(tf.dtypes.cast(t, TFloat32.class), tf.constant(1f)),
                    tf.constant(1000f)),
                tf.constant(new int[] {-1, 1, 1, 1}));
        Operand<TFloat32> label =
            tf.reshape(
                tf.math.mul(tf.dtypes.cast(labels, TFloat32.class), tf.constant(0.1f)),
                tf.constant(new int[] {-1, 1, 1, 1}));
        return tf.math.add(tf.math.mul(x, tScale), label);
      };

  private static double net(double x, int t, int label) {
    return x * (t + 1) / 1000.0 + 0.1 * label;
  }

  private static float[] guided(float[] x, int[] t, int[] labels, float[] scale, int nullLabel) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> out =
          ClassifierFreeGuidance.guided(NET, nullLabel)
              .apply(
                  tf,
                  new BoundParameters(Map.of()),
                  tf.constant(TensorIO.floats(Shape.of(B, 2, 2, 1), x)),
                  tf.constant(t),
                  List.of(tf.constant(labels), tf.constant(scale)));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(out).run()) {
        return TensorIO.toFloats(r.get(0));
      }
    }
  }

  @Test
  void guidanceCombinesBothPredictionsAsPlainJava() {
    Random random = new Random(4);
    float[] x = new float[B * N];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian();
    }
    int[] t = {10, 500, 999};
    int[] labels = {0, 3, 1};
    float[] w = {0f, 1f, 4.5f};
    int nullLabel = 5;
    float[] out = guided(x, t, labels, w, nullLabel);
    for (int b = 0; b < B; b++) {
      for (int i = 0; i < N; i++) {
        double xi = x[b * N + i];
        double uncond = net(xi, t[b], nullLabel);
        double cond = net(xi, t[b], labels[b]);
        double expected = uncond + w[b] * (cond - uncond);
        assertThat((double) out[b * N + i])
            .isCloseTo(expected, within(1e-5 * (1 + Math.abs(expected))));
      }
    }
  }

  @Test
  void zeroIsUnconditionalAndOneIsConditional() {
    float[] x = {0.5f, -1f, 2f, 0f, 1f, 1f, -2f, 0.25f, 3f, -0.5f, 0.75f, -1.5f};
    int[] t = {100, 100, 100};
    int[] labels = {2, 2, 2};
    float[] zero = guided(x, t, labels, new float[] {0, 0, 0}, 9);
    float[] one = guided(x, t, labels, new float[] {1, 1, 1}, 9);
    for (int i = 0; i < x.length; i++) {
      // exactly the network's output for the null label, and for the label
      assertThat(zero[i]).isEqualTo((float) (x[i] * 101f / 1000f + 0.1f * 9), within(1e-6f));
      assertThat(one[i]).isEqualTo((float) (x[i] * 101f / 1000f + 0.1f * 2), within(1e-6f));
    }
  }

  @Test
  void combineBroadcastsOneScalePerRow() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> u =
          tf.constant(TensorIO.floats(Shape.of(2, 1, 1, 2), new float[] {1, 2, 3, 4}));
      Operand<TFloat32> c =
          tf.constant(TensorIO.floats(Shape.of(2, 1, 1, 2), new float[] {2, 4, 3, 8}));
      Operand<TFloat32> out =
          ClassifierFreeGuidance.combine(tf, u, c, tf.constant(new float[] {2, 0.5f}));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(out).run()) {
        assertThat(TensorIO.toFloats(r.get(0))).containsExactly(3f, 6f, 3f, 6f);
      }
    }
  }
}
