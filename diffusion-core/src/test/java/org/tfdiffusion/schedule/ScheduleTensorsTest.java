package org.tfdiffusion.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.testing.ArrayAsserts.assertWithin;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.GraphRunner.Fetched;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * The float32 graph constants of {@link ScheduleTensors} and their per-sample gather, against the
 * double arrays (cast to float) and against {@link ReferenceSchedule}.
 */
class ScheduleTensorsTest {
  private static final int T = 1000;
  private static final int BATCH = 16;

  /**
   * A double rounded to float is within half a float ulp of it; the reference differs from the
   * schedule by a few double ulps, which can at most move the rounding by one float ulp.
   */
  private static double[] oneFloatUlp(double[] expected) {
    double[] tolerance = new double[expected.length];
    for (int i = 0; i < expected.length; i++) {
      tolerance[i] = Math.ulp((float) expected[i]);
    }
    return tolerance;
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void constantIsTheDoubleArrayCastToFloat(BetaSchedule kind) {
    NoiseSchedule schedule = NoiseSchedule.create(kind, T, 1e-4, 0.02);
    ReferenceSchedule reference = ReferenceSchedule.of(kind, T, 1e-4, 0.02);
    Coefficient[] all = Coefficient.values();
    List<Fetched> fetched =
        GraphRunner.fetchAll(
            tf -> {
              ScheduleTensors tensors = new ScheduleTensors(tf, schedule);
              List<Operand<TFloat32>> outputs = new ArrayList<>();
              for (Coefficient c : all) {
                outputs.add(tensors.constant(c));
              }
              return outputs;
            });
    for (int i = 0; i < all.length; i++) {
      Coefficient c = all[i];
      Fetched constant = fetched.get(i);
      assertThat(constant.shape()).as("%s shape", c).containsExactly(T);
      double[] doubles = schedule.get(c).toArray();
      float[] cast = new float[T];
      for (int t = 0; t < T; t++) {
        cast[t] = (float) doubles[t];
      }
      assertThat(constant.floats()).as("%s %s", kind, c).containsExactly(cast);
      assertWithin(
          kind + " " + c + " vs reference",
          constant.values(),
          reference.get(c),
          oneFloatUlp(reference.get(c)));
    }
  }

  @Test
  void constantIsCreatedOnceAndNamedAfterTheFormula() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ScheduleTensors tensors = new ScheduleTensors(tf, NoiseSchedule.linear());
      Operand<TFloat32> first = tensors.constant(Coefficient.ALPHAS_CUMPROD);
      assertThat(tensors.constant(Coefficient.ALPHAS_CUMPROD)).isSameAs(first);
      assertThat(first.op().name()).isEqualTo("schedule/alphas_cumprod");
      assertThat(tensors.schedule().timesteps()).isEqualTo(T);
    }
  }

  @Test
  void twoInstancesInOneGraphDoNotCollide() {
    // e.g. a training graph and an evaluation process built side by side
    NoiseSchedule linear = NoiseSchedule.linear();
    NoiseSchedule cosine = NoiseSchedule.create(BetaSchedule.COSINE, T, 1e-4, 0.02);
    List<Fetched> fetched =
        GraphRunner.fetchAll(
            tf ->
                List.of(
                    new ScheduleTensors(tf, linear).constant(Coefficient.BETAS),
                    new ScheduleTensors(tf, cosine).constant(Coefficient.BETAS)));
    assertThat(fetched.get(0).values()[T - 1]).isEqualTo((double) (float) 0.02);
    assertThat(fetched.get(1).values()[T - 1]).isEqualTo((double) (float) 0.999);
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void extractGathersEachSamplesTimestepShapedForImages(BetaSchedule kind) {
    NoiseSchedule schedule = NoiseSchedule.create(kind, T, 1e-4, 0.02);
    ReferenceSchedule reference = ReferenceSchedule.of(kind, T, 1e-4, 0.02);
    int[] t = randomTimesteps(kind.ordinal(), BATCH, T);
    Coefficient[] all = Coefficient.values();
    List<Fetched> fetched =
        GraphRunner.fetchAll(
            tf -> {
              ScheduleTensors tensors = new ScheduleTensors(tf, schedule);
              Operand<TInt32> ts = tf.constant(t);
              List<Operand<TFloat32>> outputs = new ArrayList<>();
              for (Coefficient c : all) {
                outputs.add(tensors.extract(c, ts));
              }
              return outputs;
            });
    for (int i = 0; i < all.length; i++) {
      Fetched gathered = fetched.get(i);
      assertThat(gathered.shape()).as("%s shape", all[i]).containsExactly(BATCH, 1, 1, 1);
      double[] expected = new double[BATCH];
      for (int b = 0; b < BATCH; b++) {
        expected[b] = reference.get(all[i])[t[b]];
      }
      assertWithin(kind + " " + all[i], gathered.values(), expected, oneFloatUlp(expected));
    }
  }

  @Test
  void extractWithRankTwoAndOneAndInt64Timesteps() {
    ReferenceSchedule reference = ReferenceSchedule.of(BetaSchedule.LINEAR, T, 1e-4, 0.02);
    int[] t = randomTimesteps(42, BATCH, T);
    long[] tLong = java.util.Arrays.stream(t).asLongStream().toArray();
    List<Fetched> fetched =
        GraphRunner.fetchAll(
            tf -> {
              ScheduleTensors tensors = new ScheduleTensors(tf, NoiseSchedule.linear());
              return List.of(
                  tensors.extract(Coefficient.SQRT_ALPHAS_CUMPROD, tf.constant(t), 2),
                  tensors.extract(Coefficient.SQRT_ALPHAS_CUMPROD, tf.constant(t), 1),
                  tensors.extract(Coefficient.SQRT_ALPHAS_CUMPROD, tf.constant(tLong)));
            });
    double[] expected = new double[BATCH];
    for (int b = 0; b < BATCH; b++) {
      expected[b] = reference.sqrtAlphasCumprod[t[b]];
    }
    assertThat(fetched.get(0).shape()).containsExactly(BATCH, 1);
    assertThat(fetched.get(1).shape()).containsExactly(BATCH);
    assertThat(fetched.get(2).shape()).containsExactly(BATCH, 1, 1, 1);
    for (Fetched f : fetched) {
      assertWithin("sqrt_alphas_cumprod[t]", f.values(), expected, oneFloatUlp(expected));
    }
  }

  @Test
  void extractBroadcastsAgainstAnImageBatch() {
    // coefficient[t_b] * 1 over [B, 2, 3, 1]: every pixel of row b carries row b's coefficient
    int[] t = {0, 999, 500};
    ReferenceSchedule reference = ReferenceSchedule.of(BetaSchedule.LINEAR, T, 1e-4, 0.02);
    Fetched f =
        GraphRunner.fetchAll(
                tf ->
                    List.of(
                        tf.math.mul(
                            new ScheduleTensors(tf, NoiseSchedule.linear())
                                .extract(Coefficient.BETAS, tf.constant(t)),
                            tf.ones(tf.constant(new int[] {3, 2, 3, 1}), TFloat32.class))))
            .get(0);
    assertThat(f.shape()).containsExactly(3, 2, 3, 1);
    double[] expected = new double[18];
    for (int i = 0; i < 18; i++) {
      expected[i] = reference.betas[t[i / 6]];
    }
    assertWithin("betas[t] broadcast", f.values(), expected, oneFloatUlp(expected));
  }

  @Test
  void extractRefusesRankBelowOne() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ScheduleTensors tensors = new ScheduleTensors(tf, NoiseSchedule.linear());
      assertThatThrownBy(() -> tensors.extract(Coefficient.BETAS, tf.constant(new int[] {1}), 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got 0");
    }
  }

  @Test
  void timestepOutsideTheScheduleFailsAtRunTime() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ScheduleTensors tensors = new ScheduleTensors(tf, NoiseSchedule.linear());
      Operand<TFloat32> out = tensors.extract(Coefficient.BETAS, tf.constant(new int[] {0, T}));
      try (Session s = new Session(g)) {
        assertThatThrownBy(() -> s.runner().fetch(out).run().close())
            .isInstanceOf(TFInvalidArgumentException.class)
            .hasMessageContaining(String.valueOf(T));
      }
    }
  }

  /** B timesteps in [0, T) from a seeded generator, with both ends forced in. */
  static int[] randomTimesteps(long seed, int batch, int timesteps) {
    Random random = new Random(seed);
    int[] t = new int[batch];
    for (int b = 0; b < batch; b++) {
      t[b] = random.nextInt(timesteps);
    }
    t[0] = 0;
    t[batch - 1] = timesteps - 1;
    return t;
  }
}
