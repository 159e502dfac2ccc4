package org.tfdiffusion.distillation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.diffusion.Denoiser;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.GraphRunner.Fetched;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * {@link ProgressiveDistillation} against Algorithm 2 of Salimans &amp; Ho (2022) evaluated in
 * plain Java double: the grid from T and N alone, ᾱ from {@link ReferenceSchedule}, the teacher's
 * two DDIM steps, the target x̃, the student's x̂_0, max(SNR, 1) and the loss, for dummy networks
 * ({@code teacher(z, t) = z · t / (t + 1)}, {@code student(z, t) = 0.5 z + 0.01 t}) on the graph's
 * own draws of i and ε.
 *
 * <p>Tolerance: the target divides a difference of terms of order 1 by α_t'' - (σ_t''/σ_t) α_t (at
 * least 0.01 on these grids) after x̂_0 = (z - σ ε̂) / α has divided by α_t (at least 0.01), so a
 * float32 graph whose every coefficient and operation rounds at 6e-8 lands within about 1e-4 of the
 * double value relative to max(|value|, 1); the tests ask for 2e-4.
 */
class ProgressiveDistillationTest {
  private static final int T = 1000;
  private static final int BATCH = 96;
  private static final long[] IMAGE = {BATCH, 2, 2, 1};
  private static final int PER_ROW = 4;
  private static final double TOLERANCE = 2e-4;

  private final NoiseSchedule schedule = NoiseSchedule.linear();
  private final ReferenceSchedule ref = new ReferenceSchedule(schedule.betas().toArray());

  /** The dummy teacher of diffusers' scheduler tests, {@code z · t / (t + 1)}. */
  private static Denoiser teacher(Ops tf) {
    return (z, t) -> {
      Operand<TFloat32> tf32 =
          tf.reshape(tf.dtypes.cast(t, TFloat32.class), tf.constant(new int[] {-1, 1, 1, 1}));
      return tf.math.mul(z, tf.math.div(tf32, tf.math.add(tf32, tf.constant(1f))));
    };
  }

  private static double teacher(double z, int t) {
    return z * ((double) t / (t + 1));
  }

  private static Denoiser student(Ops tf) {
    return (z, t) -> {
      Operand<TFloat32> tf32 =
          tf.reshape(tf.dtypes.cast(t, TFloat32.class), tf.constant(new int[] {-1, 1, 1, 1}));
      return tf.math.add(tf.math.mul(z, tf.constant(0.5f)), tf.math.mul(tf32, tf.constant(0.01f)));
    };
  }

  private static double student(double z, int t) {
    return 0.5 * z + 0.01 * t;
  }

  @ParameterizedTest(name = "N = {0}, teacher {1}, student {2}")
  @CsvSource({
    "4, EPSILON, EPSILON",
    "8, EPSILON, V_PREDICTION",
    "16, V_PREDICTION, V_PREDICTION",
    "64, SAMPLE, EPSILON",
    "2, V_PREDICTION, SAMPLE"
  })
  void targetAndLossMatchAlgorithm2InDoublePrecision(
      int n, Prediction teacherPrediction, Prediction studentPrediction) {
    float[] x = GraphRunner.gaussian(7, BATCH * PER_ROW);
    List<Fetched> f =
        GraphRunner.fetchAll(
            tf -> {
              ProgressiveDistillation.Loss loss =
                  ProgressiveDistillation.loss(
                      tf,
                      ProgressiveDistillation.grid(schedule, n),
                      teacher(tf),
                      teacherPrediction,
                      student(tf),
                      studentPrediction,
                      tf.constant(Shape.of(IMAGE), DataBuffers.of(x, true, false)),
                      tf.constant(new long[] {11, 3}));
              return List.of(
                  loss.index(),
                  loss.t(),
                  loss.noise(),
                  loss.target(),
                  loss.studentX0(),
                  loss.value());
            });
    int[] index = f.get(0).ints();
    int[] t = f.get(1).ints();
    double[] noise = f.get(2).values();
    double[] target = f.get(3).values();
    double[] studentX0 = f.get(4).values();
    double loss = f.get(5).values()[0];

    int stride = T / n;
    int half = T / (2 * n);
    double sum = 0;
    boolean[] seen = new boolean[n];
    for (int b = 0; b < BATCH; b++) {
      int i = index[b];
      seen[i] = true;
      // the student's N-step DDIM grid from T and N alone: leading spacing, descending
      int ti = (n - 1 - i) * stride;
      assertThat(t[b]).isEqualTo(ti);
      int tMid = ti - half;
      int tEnd = ti - stride;
      double a = Math.sqrt(ref.alphasCumprod[ti]);
      double s = Math.sqrt(1 - ref.alphasCumprod[ti]);
      double abMid = tMid >= 0 ? ref.alphasCumprod[tMid] : 1;
      double abEnd = tEnd >= 0 ? ref.alphasCumprod[tEnd] : 1;
      double aMid = Math.sqrt(abMid);
      double sMid = Math.sqrt(1 - abMid);
      double aEnd = Math.sqrt(abEnd);
      double sEnd = Math.sqrt(1 - abEnd);
      double weight = Math.max(a * a / (s * s), 1);
      double squared = 0;
      for (int p = 0; p < PER_ROW; p++) {
        int k = b * PER_ROW + p;
        double z = a * x[k] + s * noise[k];
        // the teacher's first DDIM step, t -> t'
        double m1 = teacher(z, ti);
        double zMid =
            aMid * x0(teacherPrediction, z, m1, a, s) + sMid * eps(teacherPrediction, z, m1, a, s);
        double zEnd;
        if (tMid >= 0) {
          // the second, t' -> t''
          double m2 = teacher(zMid, tMid);
          zEnd =
              aEnd * x0(teacherPrediction, zMid, m2, aMid, sMid)
                  + sEnd * eps(teacherPrediction, zMid, m2, aMid, sMid);
        } else {
          // at t = 0 the first step already ends at the final alpha_bar = 1
          zEnd = zMid;
        }
        double expected = (zEnd - sEnd / s * z) / (aEnd - sEnd / s * a);
        assertThat(target[k])
            .as("row %s (t = %s), element %s", b, ti, p)
            .isCloseTo(expected, within(TOLERANCE * Math.max(Math.abs(expected), 1)));
        double xs = x0(studentPrediction, z, student(z, ti), a, s);
        assertThat(studentX0[k]).isCloseTo(xs, within(TOLERANCE * Math.max(Math.abs(xs), 1)));
        squared += (expected - xs) * (expected - xs);
      }
      sum += weight * squared / PER_ROW;
    }
    // every step of the small grids is drawn (the last, t = 0, included); 96 draws of 64 steps
    // miss some of them
    for (int i = 0; i < n && n <= 16; i++) {
      assertThat(seen[i]).as("grid step %s drawn", i).isTrue();
    }
    double expectedLoss = sum / BATCH;
    assertThat(loss).isCloseTo(expectedLoss, within(TOLERANCE * Math.max(expectedLoss, 1)));
  }

  private static double x0(Prediction p, double z, double m, double a, double s) {
    return switch (p) {
      case EPSILON -> (z - s * m) / a;
      case SAMPLE -> m;
      case V_PREDICTION -> a * z - s * m;
    };
  }

  private static double eps(Prediction p, double z, double m, double a, double s) {
    return switch (p) {
      case EPSILON -> m;
      case SAMPLE -> (z - a * m) / s;
      case V_PREDICTION -> s * z + a * m;
    };
  }

  @Test
  void theStudentsGridIsTheDdimSamplersAndNestsWhereTheStrideIsEven() {
    for (int n : new int[] {2, 4, 8, 16, 32, 64, 128, 256, 500}) {
      List<ProgressiveDistillation.Step> grid = ProgressiveDistillation.grid(schedule, n);
      SamplingPlan plan = DdimSampler.of(n, 0).plan(schedule, Prediction.EPSILON);
      assertThat(grid.stream().mapToInt(ProgressiveDistillation.Step::t).toArray())
          .containsExactly(plan.timesteps().toArray());
      SamplingPlan teacher = DdimSampler.of(2 * n, 0).plan(schedule, Prediction.EPSILON);
      List<Integer> teacherTimesteps = teacher.timesteps().asList();
      if ((T / n) % 2 == 0) {
        // every t and t' of the student's steps is a timestep of the teacher's 2N-step grid
        for (ProgressiveDistillation.Step s : grid) {
          assertThat(teacherTimesteps).contains(s.t());
          if (s.twoHalfSteps()) {
            assertThat(teacherTimesteps).contains(s.tMid());
          }
        }
      }
      ProgressiveDistillation.Step last = grid.get(grid.size() - 1);
      assertThat(last.t()).isZero();
      assertThat(last.twoHalfSteps()).isFalse();
      assertThat(last.alphaBarEnd()).isEqualTo(1.0);
      assertThat(last.weight()).isGreaterThan(1);
    }
  }

  @Test
  void aTeacherNeedsTwiceTheStudentsStepsWithinTheTimesteps() {
    assertThatThrownBy(() -> ProgressiveDistillation.grid(schedule, 501))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "a student of 501 steps needs a teacher of 1002 steps, more than the model's 1000"
                + " timesteps");
  }
}
