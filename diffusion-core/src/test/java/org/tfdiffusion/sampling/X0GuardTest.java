package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.GraphRunner;

/**
 * The x̂_0 guards against plain Java double: clipping, and Imagen's dynamic thresholding with the
 * quantile computed as {@code torch.quantile} does (linear interpolation between the order
 * statistics at p·(n - 1)), then inside one step of each sampler.
 */
class X0GuardTest {
  private static final int BATCH = 3;
  private static final int PIXELS = 5 * 5 * 2;
  private static final int SIZE = BATCH * PIXELS;

  /** Image 0 spreads to about ±6, image 1 to about ±2, image 2 stays inside [-1, 1]. */
  private static final float[] X0 = images();

  private static float[] images() {
    float[] g = GraphRunner.gaussian(11, SIZE);
    float[] out = new float[SIZE];
    float[] scale = {2.5f, 0.8f, 0.3f};
    for (int i = 0; i < SIZE; i++) {
      out[i] = g[i] * scale[i / PIXELS];
    }
    for (int i = 2 * PIXELS; i < SIZE; i++) {
      out[i] = Math.max(-0.99f, Math.min(0.99f, out[i]));
    }
    return out;
  }

  /** torch.quantile(|x|, p) with linear interpolation, in double. */
  static double quantile(double[] values, double p) {
    double[] sorted = Arrays.stream(values).map(Math::abs).sorted().toArray();
    double position = p * (sorted.length - 1);
    int lo = (int) Math.floor(position);
    int hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]);
  }

  /** The guard in double, image by image. */
  static double[] reference(X0Guard guard, float[] x0) {
    double[] out = new double[x0.length];
    int pixels = x0.length / BATCH;
    for (int b = 0; b < BATCH; b++) {
      double[] image = new double[pixels];
      for (int i = 0; i < pixels; i++) {
        image[i] = x0[b * pixels + i];
      }
      for (int i = 0; i < pixels; i++) {
        double v = image[i];
        out[b * pixels + i] =
            switch (guard.kind()) {
              case NONE -> v;
              case CLIP -> Math.max(-guard.range(), Math.min(guard.range(), v));
              case DYNAMIC -> {
                double s = Math.min(Math.max(quantile(image, guard.ratio()), 1.0), guard.range());
                yield Math.max(-s, Math.min(s, v)) / s;
              }
            };
      }
    }
    return out;
  }

  private static Operand<TFloat32> batch(Ops tf, float[] values) {
    return tf.reshape(tf.constant(values), tf.constant(new int[] {BATCH, 5, 5, 2}));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "dynamic",
    "dynamic-0.9",
    "dynamic-1",
    "dynamic-0.5",
    "dynamic-0.995-1.5",
    "clip",
    "clip-2",
    "none"
  })
  void guardMatchesItsDefinition(String form) {
    X0Guard guard = X0Guard.parse(form);
    float[] out = GraphRunner.eval(tf -> SamplerStep.guard(tf, guard, batch(tf, X0)));
    double[] expected = reference(guard, X0);
    double[] tolerance = new double[SIZE];
    Arrays.fill(tolerance, 4e-7);
    ArrayAsserts.assertWithin(form, out, expected, tolerance);
  }

  @Test
  void dynamicThresholdingScalesOnlyTheImagesThatLeaveTheRange() {
    X0Guard guard = X0Guard.dynamic(X0Guard.DEFAULT_RATIO);
    float[] out = GraphRunner.eval(tf -> SamplerStep.guard(tf, guard, batch(tf, X0)));
    double max0 = 0;
    for (int i = 0; i < PIXELS; i++) {
      max0 = Math.max(max0, Math.abs(out[i]));
      assertThat(Math.abs(out[i])).isLessThanOrEqualTo(1f);
    }
    assertThat(max0).as("the spread image is scaled to exactly 1 at its top").isEqualTo(1.0);
    // the image inside [-1, 1] is left as it is: s = max(quantile, 1) = 1
    assertThat(Arrays.copyOfRange(out, 2 * PIXELS, SIZE))
        .containsExactly(Arrays.copyOfRange(X0, 2 * PIXELS, SIZE));
  }

  /**
   * One DDIM step with the guard, with ε̂ kept and recomputed, against DDIM's equation in double:
   * x_prev = √ᾱ_prev g(x̂_0) + √(1 - ᾱ_prev) ε', ε' = ε̂ or (x - √ᾱ g(x̂_0)) / √(1 - ᾱ).
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"dynamic", "dynamic+eps", "clip-1", "clip-1+eps"})
  void ddimStepUsesTheGuardedX0AndTheChosenEps(String form) {
    X0Guard guard = X0Guard.parse(form);
    NoiseSchedule schedule = NoiseSchedule.linear();
    SamplingPlan plan =
        new DdimSampler(10, 0, TimestepSpacing.LEADING, 0, true, guard)
            .plan(schedule, Prediction.EPSILON);
    int i = 3;
    int t = plan.timesteps().get(i);
    double alphaBar = schedule.alphasCumprod().get(t);
    double alphaBarPrev = schedule.alphasCumprod().get(t - 100);
    float[] x = GraphRunner.gaussian(21, SIZE);
    float[] eps = GraphRunner.gaussian(22, SIZE);
    for (int k = 0; k < SIZE; k++) {
      x[k] *= 2f;
    }
    List<float[]> out =
        GraphRunner.evalAll(
            tf -> {
              SamplerStep.Result r =
                  new SamplerStep(tf, plan)
                      .apply(
                          tf.constant(i),
                          batch(tf, x),
                          batch(tf, eps),
                          Optional.empty(),
                          Optional.empty());
              return List.of(r.x(), r.x0());
            });
    float[] x0 = new float[SIZE];
    for (int k = 0; k < SIZE; k++) {
      x0[k] = (float) ((x[k] - Math.sqrt(1 - alphaBar) * eps[k]) / Math.sqrt(alphaBar));
    }
    double[] guarded = reference(guard, x0);
    double[] expected = new double[SIZE];
    double[] tolerance = new double[SIZE];
    int changed = 0;
    for (int k = 0; k < SIZE; k++) {
      double e =
          guard.recomputeEps()
              ? (x[k] - Math.sqrt(alphaBar) * guarded[k]) / Math.sqrt(1 - alphaBar)
              : eps[k];
      expected[k] = Math.sqrt(alphaBarPrev) * guarded[k] + Math.sqrt(1 - alphaBarPrev) * e;
      tolerance[k] = 2e-5 * (1 + Math.abs(expected[k]));
      changed += guarded[k] != x0[k] ? 1 : 0;
    }
    assertThat(changed).as("the guard bites on these inputs").isPositive();
    ArrayAsserts.assertWithin(form + ": x0", out.get(1), guarded, tolerance);
    ArrayAsserts.assertWithin(form + ": x_prev", out.get(0), expected, tolerance);
  }

  /**
   * DDPM and DPM-Solver++ steps read only the guarded x̂_0: as a + b·g(x̂_0) + d·(g - x̂_0^prev).
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"ddpm", "dpmpp"})
  void ddpmAndDpmSolverUseTheGuardedX0(String kind) {
    X0Guard guard = X0Guard.dynamic(0.9);
    NoiseSchedule schedule = NoiseSchedule.linear();
    Sampler sampler =
        kind.equals("ddpm")
            ? new DdpmSampler(20, DdpmSampler.Variance.POSTERIOR, guard)
            : new DpmSolverPlusPlusSampler(
                20,
                2,
                TimestepSpacing.LINSPACE,
                0,
                true,
                DpmSolverPlusPlusSampler.FinalSigma.ZERO,
                guard);
    SamplingPlan plan = sampler.plan(schedule, Prediction.EPSILON);
    assertThat(plan.usesEps()).as("%s: guarded updates use x0 only", kind).isFalse();
    int i = 5;
    double alphaBar = plan.alphasCumprod().get(i);
    float[] x = GraphRunner.gaussian(31, SIZE);
    float[] eps = GraphRunner.gaussian(32, SIZE);
    float[] x0Prev = GraphRunner.gaussian(33, SIZE);
    float[] noise = GraphRunner.gaussian(34, SIZE);
    List<float[]> out =
        GraphRunner.evalAll(
            tf ->
                List.of(
                    new SamplerStep(tf, plan)
                        .apply(
                            tf.constant(i),
                            batch(tf, x),
                            batch(tf, eps),
                            Optional.of(batch(tf, noise)),
                            Optional.of(batch(tf, x0Prev)))
                        .x()));
    float[] x0 = new float[SIZE];
    for (int k = 0; k < SIZE; k++) {
      x0[k] = (float) ((x[k] - Math.sqrt(1 - alphaBar) * eps[k]) / Math.sqrt(alphaBar));
    }
    double[] g = reference(guard, x0);
    double[] expected = new double[SIZE];
    double[] tolerance = new double[SIZE];
    for (int k = 0; k < SIZE; k++) {
      expected[k] =
          plan.xCoef().get(i) * x[k]
              + plan.x0Coef().get(i) * g[k]
              + plan.x0DeltaCoef().get(i) * (g[k] - x0Prev[k])
              + plan.noiseCoef().get(i) * noise[k];
      tolerance[k] = 2e-5 * (1 + Math.abs(expected[k]));
    }
    ArrayAsserts.assertWithin(kind, out.get(0), expected, tolerance);
  }

  @ParameterizedTest
  @CsvSource({
    "none,none",
    "off,none",
    "clip,clip-1",
    "clip-2.5,clip-2.5",
    "dynamic,dynamic-0.995",
    "dynamic-0.9-1.5,dynamic-0.9-1.5",
    "DYNAMIC_0.99+eps,dynamic-0.99+eps",
    "clip-0,none"
  })
  void parsesAndPrintsItsForms(String text, String printed) {
    assertThat(X0Guard.parse(text).toString()).isEqualTo(printed);
    assertThat(X0Guard.parse(printed)).isEqualTo(X0Guard.parse(text));
  }

  @Test
  void badFormsNameTheValidOnes() {
    assertThatThrownBy(() -> X0Guard.parse("threshold"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unknown x0 guard 'threshold'")
        .hasMessageContaining("dynamic-P");
    assertThatThrownBy(() -> X0Guard.parse("dynamic-1.5"))
        .hasMessageContaining("ratio must be in (0, 1]");
    assertThatThrownBy(() -> X0Guard.parse("dynamic-0.9-0"))
        .hasMessageContaining("max value must be > 0");
  }
}
