package org.tfdiffusion.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertWithin;
import static org.tfdiffusion.testing.ArrayAsserts.widen;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.GraphRunner.Fetched;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * The graphs of {@link GaussianDiffusion} against the tutorial's formulas evaluated in plain Java
 * double on the same float32 inputs, with coefficients from {@link ReferenceSchedule}.
 *
 * <p>Tolerance of the float32 graphs. A graph value such as {@code c1[t] a + c2[t] b} rounds each
 * coefficient to float (relative error at most 2^-24 ≈ 6e-8), then each product and the sum once
 * more, so its error is at most about 4 · 2^-24 · (|c1 a| + |c2 b|) ≈ 2.4e-7 times the sum of the
 * absolute terms, its "scale". Each element must lie within {@code 1e-6 · max(scale, 1)} of the
 * double value: 1e-6 relative to the terms, with an absolute floor of 1e-6 for elements whose terms
 * are all smaller than 1 (the inputs are of order 1, so below that only absolute error is
 * meaningful). The scale, not |expected|, is the honest reference where the terms cancel: for
 * instance ε from x_0 at t = 0 divides a difference of order 1 by √(1/ᾱ_0 - 1) ≈ 0.01.
 */
class GaussianDiffusionTest {
  private static final int T = 1000;
  private static final long[] IMAGE = {4, 4, 4, 2};
  private static final int BATCH = (int) IMAGE[0];
  private static final int SIZE = Math.toIntExact(Shape.of(IMAGE).size());
  private static final int PER_SAMPLE = SIZE / BATCH;

  /** Relative tolerance against the scale of the terms; see the class comment. */
  private static final double REL = 1e-6;

  /** The scale below which the tolerance stays at {@code REL} absolute. */
  private static final double FLOOR = 1.0;

  /** Random inputs on one schedule: t per sample (both ends included) and four image batches. */
  record Fixture(
      NoiseSchedule schedule,
      ReferenceSchedule ref,
      int[] t,
      float[] x0,
      float[] noise,
      float[] xt,
      float[] output) {
    static Fixture of(BetaSchedule kind, long seed) {
      Random random = new Random(seed);
      int[] t = {0, random.nextInt(T), random.nextInt(T), T - 1};
      float[] x0 = new float[SIZE];
      for (int i = 0; i < SIZE; i++) {
        x0[i] = random.nextFloat() * 2f - 1f;
      }
      return new Fixture(
          NoiseSchedule.create(kind, T, 1e-4, 0.02),
          ReferenceSchedule.of(kind, T, 1e-4, 0.02),
          t,
          x0,
          GraphRunner.gaussian(seed + 1, SIZE),
          GraphRunner.gaussian(seed + 2, SIZE),
          GraphRunner.gaussian(seed + 3, SIZE));
    }
  }

  /** Expected values and the scale of their terms, element by element. */
  record Expected(double[] values, double[] scale) {
    double[] tolerance() {
      double[] out = new double[scale.length];
      for (int i = 0; i < out.length; i++) {
        out[i] = REL * Math.max(scale[i], FLOOR);
      }
      return out;
    }
  }

  /** {@code c1[t_b] a_i + sign · c2[t_b] b_i}, with b the sample that element i belongs to. */
  static Expected combination(double[] c1, float[] a, int sign, double[] c2, float[] b, int[] t) {
    double[] values = new double[a.length];
    double[] scale = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      int step = t[i / (a.length / t.length)];
      double first = c1[step] * a[i];
      double second = c2[step] * b[i];
      values[i] = first + sign * second;
      scale[i] = Math.abs(first) + Math.abs(second);
    }
    return new Expected(values, scale);
  }

  /** The values unchanged, scale = |value|. */
  static Expected identity(float[] a) {
    double[] values = new double[a.length];
    double[] scale = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      values[i] = a[i];
      scale[i] = Math.abs(a[i]);
    }
    return new Expected(values, scale);
  }

  /** Tutorial: {@code x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε}. */
  static Expected qSample(ReferenceSchedule r, float[] x0, int[] t, float[] noise) {
    return combination(r.sqrtAlphasCumprod, x0, +1, r.sqrtOneMinusAlphasCumprod, noise, t);
  }

  /** {@code x_0 = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε}. */
  static Expected x0FromEps(ReferenceSchedule r, float[] xt, int[] t, float[] eps) {
    return combination(r.sqrtRecipAlphasCumprod, xt, -1, r.sqrtRecipm1AlphasCumprod, eps, t);
  }

  /** {@code ε = (√(1/ᾱ_t) x_t - x_0) / √(1/ᾱ_t - 1)}: the previous line solved for ε. */
  static Expected epsFromX0(ReferenceSchedule r, float[] xt, int[] t, float[] x0) {
    double[] values = new double[xt.length];
    double[] scale = new double[xt.length];
    for (int i = 0; i < xt.length; i++) {
      int step = t[i / PER_SAMPLE];
      double first = r.sqrtRecipAlphasCumprod[step] * xt[i];
      double divisor = r.sqrtRecipm1AlphasCumprod[step];
      values[i] = (first - x0[i]) / divisor;
      scale[i] = (Math.abs(first) + Math.abs(x0[i])) / divisor;
    }
    return new Expected(values, scale);
  }

  /** Salimans &amp; Ho 2022: {@code v = √ᾱ_t ε - √(1-ᾱ_t) x_0}. */
  static Expected velocity(ReferenceSchedule r, float[] x0, int[] t, float[] eps) {
    return combination(r.sqrtAlphasCumprod, eps, -1, r.sqrtOneMinusAlphasCumprod, x0, t);
  }

  /** {@code x_0 = √ᾱ_t x_t - √(1-ᾱ_t) v}. */
  static Expected x0FromV(ReferenceSchedule r, float[] xt, int[] t, float[] v) {
    return combination(r.sqrtAlphasCumprod, xt, -1, r.sqrtOneMinusAlphasCumprod, v, t);
  }

  /** {@code ε = √(1-ᾱ_t) x_t + √ᾱ_t v}. */
  static Expected epsFromV(ReferenceSchedule r, float[] xt, int[] t, float[] v) {
    return combination(r.sqrtOneMinusAlphasCumprod, xt, +1, r.sqrtAlphasCumprod, v, t);
  }

  static Operand<TFloat32> images(Ops tf, float[] values) {
    return tf.constant(Shape.of(IMAGE), DataBuffers.of(values, true, false));
  }

  static void assertImages(String what, Fetched actual, Expected expected) {
    assertThat(actual.shape()).as("%s shape", what).containsExactly(IMAGE);
    assertWithin(what, actual.values(), expected.values(), expected.tolerance());
  }

  /** Builds one output on a {@link GaussianDiffusion} over the fixture's inputs and fetches it. */
  static Fetched run(Fixture f, Build build) {
    return GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              return List.of(
                  build.apply(
                      d,
                      new Inputs(
                          images(tf, f.x0()),
                          tf.constant(f.t()),
                          images(tf, f.noise()),
                          images(tf, f.xt()),
                          images(tf, f.output()))));
            })
        .get(0);
  }

  /** The fixture's arrays as graph constants. */
  record Inputs(
      Operand<TFloat32> x0,
      Operand<TInt32> t,
      Operand<TFloat32> noise,
      Operand<TFloat32> xt,
      Operand<TFloat32> output) {}

  @FunctionalInterface
  interface Build {
    Operand<TFloat32> apply(GaussianDiffusion d, Inputs in);
  }

  // --- forward process q(x_t | x_0) and posterior q(x_{t-1} | x_t, x_0) ---

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void qSampleMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 11);
    assertImages(
        kind + " q_sample",
        run(f, (d, in) -> d.qSample(in.x0(), in.t(), in.noise())),
        qSample(f.ref(), f.x0(), f.t(), f.noise()));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void qPosteriorMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 12);
    ReferenceSchedule r = f.ref();
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              GaussianDiffusion.Posterior p =
                  d.qPosterior(images(tf, f.x0()), images(tf, f.xt()), tf.constant(f.t()));
              return List.of(p.mean(), p.variance(), p.logVarianceClipped());
            });
    // μ̃ = coef1_t x_0 + coef2_t x_t
    assertImages(
        kind + " posterior mean",
        out.get(0),
        combination(r.posteriorMeanCoef1, f.x0(), +1, r.posteriorMeanCoef2, f.xt(), f.t()));
    double[] variance = new double[BATCH];
    double[] logVariance = new double[BATCH];
    double[] varianceTolerance = new double[BATCH];
    double[] logTolerance = new double[BATCH];
    for (int b = 0; b < BATCH; b++) {
      variance[b] = r.posteriorVariance[f.t()[b]];
      logVariance[b] = r.posteriorLogVarianceClipped[f.t()[b]];
      // a single rounding to float32: relative, so β̃_0 = 0 must come out exactly 0
      varianceTolerance[b] = REL * variance[b];
      logTolerance[b] = REL * Math.abs(logVariance[b]);
    }
    assertThat(out.get(1).shape()).containsExactly(BATCH, 1, 1, 1);
    assertThat(out.get(2).shape()).containsExactly(BATCH, 1, 1, 1);
    assertWithin(kind + " posterior variance", out.get(1).values(), variance, varianceTolerance);
    assertWithin(kind + " posterior log variance", out.get(2).values(), logVariance, logTolerance);
    // t = 0 (first sample): β̃ = 0 and its log is the tutorial's clamp
    assertThat(out.get(1).values()[0]).isEqualTo(0.0);
    assertThat(out.get(2).values()[0])
        .isCloseTo(Math.log(1e-20), within(REL * Math.abs(Math.log(1e-20))));
  }

  // --- conversions between ε, x_0 and v ---

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void predictX0FromEpsMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 21);
    assertImages(
        kind + " x0 from eps",
        run(f, (d, in) -> d.predictX0FromEps(in.xt(), in.t(), in.output())),
        x0FromEps(f.ref(), f.xt(), f.t(), f.output()));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void predictEpsFromX0MatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 22);
    assertImages(
        kind + " eps from x0",
        run(f, (d, in) -> d.predictEpsFromX0(in.xt(), in.t(), in.output())),
        epsFromX0(f.ref(), f.xt(), f.t(), f.output()));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void velocityMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 23);
    assertImages(
        kind + " v",
        run(f, (d, in) -> d.velocity(in.x0(), in.t(), in.noise())),
        GaussianDiffusionTest.velocity(f.ref(), f.x0(), f.t(), f.noise()));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void predictX0FromVMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 24);
    assertImages(
        kind + " x0 from v",
        run(f, (d, in) -> d.predictX0FromV(in.xt(), in.t(), in.output())),
        x0FromV(f.ref(), f.xt(), f.t(), f.output()));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void predictEpsFromVMatchesTheFormula(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 25);
    assertImages(
        kind + " eps from v",
        run(f, (d, in) -> d.predictEpsFromV(in.xt(), in.t(), in.output())),
        epsFromV(f.ref(), f.xt(), f.t(), f.output()));
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void predictX0AndPredictEpsReadTheOutputAsItsKind(Prediction kind) {
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 26);
    ReferenceSchedule r = f.ref();
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              Operand<TFloat32> xt = images(tf, f.xt());
              Operand<TInt32> t = tf.constant(f.t());
              Operand<TFloat32> output = images(tf, f.output());
              return List.of(d.predictX0(kind, xt, t, output), d.predictEps(kind, xt, t, output));
            });
    Expected x0 =
        switch (kind) {
          case EPSILON -> x0FromEps(r, f.xt(), f.t(), f.output());
          case SAMPLE -> identity(f.output());
          case V_PREDICTION -> x0FromV(r, f.xt(), f.t(), f.output());
        };
    Expected eps =
        switch (kind) {
          case EPSILON -> identity(f.output());
          case SAMPLE -> epsFromX0(r, f.xt(), f.t(), f.output());
          case V_PREDICTION -> epsFromV(r, f.xt(), f.t(), f.output());
        };
    assertImages(kind + " predictX0", out.get(0), x0);
    assertImages(kind + " predictEps", out.get(1), eps);
    // what the model outputs passes through unchanged
    if (kind == Prediction.SAMPLE) {
      assertThat(out.get(0).floats()).containsExactly(f.output());
    }
    if (kind == Prediction.EPSILON) {
      assertThat(out.get(1).floats()).containsExactly(f.output());
    }
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void targetIsWhatTheModelShouldOutput(Prediction kind) {
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 27);
    Expected expected =
        switch (kind) {
          case EPSILON -> identity(f.noise());
          case SAMPLE -> identity(f.x0());
          case V_PREDICTION -> GaussianDiffusionTest.velocity(f.ref(), f.x0(), f.t(), f.noise());
        };
    Fetched target = run(f, (d, in) -> d.target(kind, in.x0(), in.t(), in.noise()));
    assertImages(kind + " target", target, expected);
  }

  /**
   * x_0 → x_t → ε → x_0 and the v route, all in the graph. ε recovered from (x_t, x_0) divides by
   * √(1/ᾱ_t - 1), which is ≈ 0.01 at t = 0: float32 error there is of order 2^-24 times
   * (√(1/ᾱ_t)|x_t| + |x_0|) / √(1/ᾱ_t - 1), the scale used for its tolerance (plus the rounding of
   * x_t itself, which enters the same way, hence the factor 2).
   */
  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void roundTripsRecoverTheInputs(BetaSchedule kind) {
    Fixture f = Fixture.of(kind, 28);
    ReferenceSchedule r = f.ref();
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              Operand<TFloat32> x0 = images(tf, f.x0());
              Operand<TFloat32> noise = images(tf, f.noise());
              Operand<TInt32> t = tf.constant(f.t());
              Operand<TFloat32> xt = d.qSample(x0, t, noise);
              Operand<TFloat32> eps = d.predictEpsFromX0(xt, t, x0);
              Operand<TFloat32> v = d.velocity(x0, t, noise);
              return List.of(
                  eps,
                  d.predictX0FromEps(xt, t, eps),
                  d.predictX0FromV(xt, t, v),
                  d.predictEpsFromV(xt, t, v));
            });
    double[] noise = widen(f.noise());
    double[] x0 = widen(f.x0());
    double[] epsTolerance = new double[SIZE];
    double[] x0Tolerance = new double[SIZE];
    double[] vTolerance = new double[SIZE];
    for (int i = 0; i < SIZE; i++) {
      int step = f.t()[i / PER_SAMPLE];
      double signal = r.sqrtAlphasCumprod[step];
      double sigma = r.sqrtOneMinusAlphasCumprod[step];
      double xt = signal * x0[i] + sigma * noise[i];
      double xtTerm = r.sqrtRecipAlphasCumprod[step] * Math.abs(xt);
      double epsScale = (xtTerm + Math.abs(x0[i])) / r.sqrtRecipm1AlphasCumprod[step];
      epsTolerance[i] = 2 * REL * Math.max(epsScale, FLOOR);
      // x_0 = √(1/ᾱ) x_t - √(1/ᾱ - 1) ε: ε's error comes back multiplied by √(1/ᾱ - 1)
      x0Tolerance[i] = 2 * REL * Math.max(xtTerm + Math.abs(x0[i]), FLOOR);
      vTolerance[i] = 2 * REL * Math.max(Math.abs(x0[i]) + Math.abs(noise[i]), FLOOR);
    }
    assertWithin(kind + " x0 -> eps", out.get(0).values(), noise, epsTolerance);
    assertWithin(kind + " x0 -> eps -> x0", out.get(1).values(), x0, x0Tolerance);
    assertWithin(kind + " x0 -> v -> x0", out.get(2).values(), x0, vTolerance);
    assertWithin(kind + " eps -> v -> eps", out.get(3).values(), noise, vTolerance);
  }

  // --- statistics of q_sample ---

  /**
   * q(x_t | x_0) over 64x16x16x1 = 16384 elements with ε from the stateless normal op. For fixed
   * x_0 the element mean of x_t is √ᾱ mean(x_0) + √(1-ᾱ) mean(ε), with standard error √(1-ᾱ)/√N;
   * the element variance is ᾱ S²(x_0) + (1-ᾱ) S²(ε) + 2√ᾱ√(1-ᾱ) cov(x_0, ε), whose standard error
   * is about √((1-ᾱ)² 2/N + 4ᾱ(1-ᾱ) S²(x_0)/N) (normal ε). Each is checked to 5 standard errors: a
   * correct implementation fails with probability about 6e-7 per check (and the draw is seeded, so
   * the outcome never changes). At t = T-1 the expected values are within 0.01 of mean 0 and
   * variance 1, so x_T is checked to be close to N(0, I).
   */
  @ParameterizedTest
  @CsvSource({"constant, 999", "uniform, 999", "uniform, 0", "uniform, 500"})
  void sampleMeanAndVarianceMatchTheMarginal(String data, int step) {
    long[] shape = {64, 16, 16, 1};
    int n = Math.toIntExact(Shape.of(shape).size());
    float[] x0 = new float[n];
    Random random = new Random(5);
    for (int i = 0; i < n; i++) {
      x0[i] = data.equals("constant") ? 1f : random.nextFloat() * 2f - 1f;
    }
    int[] t = new int[(int) shape[0]];
    Arrays.fill(t, step);
    Fetched xt =
        GraphRunner.fetchAll(
                tf -> {
                  GaussianDiffusion d = new GaussianDiffusion(tf, NoiseSchedule.linear());
                  Operand<TFloat32> noise =
                      tf.random.statelessRandomNormal(
                          tf.constant(shape), tf.constant(new long[] {2024L, 7L}));
                  return List.of(
                      d.qSample(
                          tf.constant(Shape.of(shape), DataBuffers.of(x0, true, false)),
                          tf.constant(t),
                          noise));
                })
            .get(0);

    double alphaBar = ReferenceSchedule.of(BetaSchedule.LINEAR, T, 1e-4, 0.02).alphasCumprod[step];
    double x0Mean = mean(widen(x0));
    double x0Variance = variance(widen(x0));
    double expectedMean = Math.sqrt(alphaBar) * x0Mean;
    double expectedVariance = alphaBar * x0Variance + (1 - alphaBar);
    double meanError = Math.sqrt((1 - alphaBar) / n);
    double varianceError =
        Math.sqrt(
            (1 - alphaBar) * (1 - alphaBar) * 2.0 / n
                + 4 * alphaBar * (1 - alphaBar) * x0Variance / n);

    assertThat(mean(xt.values())).isCloseTo(expectedMean, within(5 * meanError));
    assertThat(variance(xt.values())).isCloseTo(expectedVariance, within(5 * varianceError));
    if (step == T - 1) {
      // x_T is close to N(0, I): ᾱ_999 ≈ 4.04e-5 leaves a bias of at most 0.81 standard errors
      // (mean √ᾱ · 1 = 0.0064 for constant x_0); by the triangle inequality the sample must lie
      // within 5 standard errors plus that bias of 0 and 1
      double meanBias = Math.abs(expectedMean);
      double varianceBias = Math.abs(expectedVariance - 1.0);
      assertThat(meanBias).isLessThan(meanError);
      assertThat(mean(xt.values())).isCloseTo(0.0, within(5 * meanError + meanBias));
      assertThat(variance(xt.values())).isCloseTo(1.0, within(5 * varianceError + varianceBias));
    }
  }

  // --- training objective ---

  /**
   * The loss is a float32 mean of squared differences. Its error is bounded by the error of the
   * targets (each within {@code tolerance_i}, entering as 2|d_i| tolerance_i / N) plus the float32
   * reduction over N elements, at most N · 2^-24 relative (7.6e-6 for N = 128) in the worst case;
   * 1e-5 relative is allowed for the latter.
   */
  private static final double REDUCTION = 1e-5;

  /** mean((output - target)^2) in double, and the tolerance described above. */
  static double[] mseAndTolerance(double[] output, Expected target) {
    double sum = 0;
    double propagated = 0;
    double[] tolerance = target.tolerance();
    int n = output.length;
    for (int i = 0; i < n; i++) {
      double d = output[i] - target.values()[i];
      sum += d * d;
      propagated += 2 * Math.abs(d) * tolerance[i] / n;
    }
    double mse = sum / n;
    return new double[] {mse, propagated + REDUCTION * mse};
  }

  static Expected target(Prediction kind, Fixture f, int[] t, float[] noise) {
    return switch (kind) {
      case EPSILON -> identity(noise);
      case SAMPLE -> identity(f.x0());
      case V_PREDICTION -> GaussianDiffusionTest.velocity(f.ref(), f.x0(), t, noise);
    };
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void pLossesIsTheMeanSquaredErrorAgainstTheTarget(Prediction kind) {
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 31);
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              Denoiser half = (xt, t) -> tf.math.mul(xt, tf.constant(0.5f));
              GaussianDiffusion.Loss loss =
                  d.pLosses(
                      half, kind, images(tf, f.x0()), tf.constant(f.t()), images(tf, f.noise()));
              return List.of(loss.value(), loss.t(), loss.noise(), loss.xt(), loss.output());
            });
    Fetched value = out.get(0);
    assertThat(value.shape()).as("loss is a scalar").isEmpty();
    assertThat(out.get(1).ints()).containsExactly(f.t());
    assertThat(out.get(2).floats()).containsExactly(f.noise());
    assertImages("x_t", out.get(3), qSample(f.ref(), f.x0(), f.t(), f.noise()));
    float[] xt = out.get(3).floats();
    float[] halfXt = new float[SIZE];
    for (int i = 0; i < SIZE; i++) {
      halfXt[i] = xt[i] * 0.5f;
    }
    assertThat(out.get(4).floats()).as("model output").containsExactly(halfXt);

    double[] expected = mseAndTolerance(widen(halfXt), target(kind, f, f.t(), f.noise()));
    assertThat(value.values()[0]).isCloseTo(expected[0], within(expected[1]));
    assertThat(expected[0]).as("a loss that can tell right from wrong").isGreaterThan(0.01);
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void aModelThatOutputsTheTargetHasZeroLoss(Prediction kind) {
    Fixture f = Fixture.of(BetaSchedule.COSINE, 32);
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              Operand<TFloat32> x0 = images(tf, f.x0());
              Operand<TFloat32> noise = images(tf, f.noise());
              // an oracle that knows x_0 and ε and answers in the kind's terms at the given t
              Denoiser oracle =
                  (xt, t) ->
                      switch (kind) {
                        case EPSILON -> noise;
                        case SAMPLE -> x0;
                        case V_PREDICTION -> d.velocity(x0, t, noise);
                      };
              // the same oracle judged as the wrong kind: a clearly positive loss
              Prediction wrong =
                  kind == Prediction.EPSILON ? Prediction.SAMPLE : Prediction.EPSILON;
              return List.of(
                  d.pLosses(oracle, kind, x0, tf.constant(f.t()), noise).value(),
                  d.pLosses(oracle, wrong, x0, tf.constant(f.t()), noise).value());
            });
    assertThat(out.get(0).values()[0]).isEqualTo(0.0);
    assertThat(out.get(1).values()[0]).isGreaterThan(0.1);
  }

  @Test
  void wrongKindLossIsTheMseBetweenTheTwoTargets() {
    // a model that outputs ε, trained as a SAMPLE model, is charged mean((ε - x_0)^2)
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 33);
    double loss =
        GraphRunner.fetchAll(
                tf -> {
                  GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
                  Operand<TFloat32> noise = images(tf, f.noise());
                  return List.of(
                      d.pLosses(
                              (xt, t) -> noise,
                              Prediction.SAMPLE,
                              images(tf, f.x0()),
                              tf.constant(f.t()),
                              noise)
                          .value());
                })
            .get(0)
            .values()[0];
    double[] expected = mseAndTolerance(widen(f.noise()), identity(f.x0()));
    assertThat(loss).isCloseTo(expected[0], within(expected[1]));
  }

  /** One trainingLoss evaluation of the fixture's x_0 with the half-x_t model, as v-prediction. */
  List<Fetched> trainingLoss(Fixture f, long[] seed) {
    return GraphRunner.fetchAll(
        tf -> {
          GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
          GaussianDiffusion.Loss loss =
              d.trainingLoss(
                  (xt, t) -> tf.math.mul(xt, tf.constant(0.5f)),
                  Prediction.V_PREDICTION,
                  images(tf, f.x0()),
                  tf.constant(seed));
          return List.of(loss.value(), loss.t(), loss.noise(), loss.xt());
        });
  }

  @Test
  void trainingLossIsPLossesAtItsOwnDraw() {
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 34);
    List<Fetched> out = trainingLoss(f, new long[] {7, 11});
    int[] t = out.get(1).ints();
    float[] noise = out.get(2).floats();
    assertThat(out.get(1).shape()).containsExactly(BATCH);
    assertThat(out.get(2).shape()).containsExactly(IMAGE);
    assertThat(Arrays.stream(t).boxed()).allSatisfy(step -> assertThat(step).isBetween(0, T - 1));
    assertImages("x_t of the draw", out.get(3), qSample(f.ref(), f.x0(), t, noise));
    float[] xt = out.get(3).floats();
    double[] halfXt = new double[SIZE];
    for (int i = 0; i < SIZE; i++) {
      halfXt[i] = xt[i] * 0.5;
    }
    double[] expected = mseAndTolerance(halfXt, target(Prediction.V_PREDICTION, f, t, noise));
    assertThat(out.get(0).values()[0]).isCloseTo(expected[0], within(expected[1]));
  }

  @Test
  void sameSeedSameDrawOtherSeedOtherDraw() {
    Fixture f = Fixture.of(BetaSchedule.LINEAR, 35);
    List<Fetched> first = trainingLoss(f, new long[] {7, 11});
    List<Fetched> again = trainingLoss(f, new long[] {7, 11});
    List<Fetched> other = trainingLoss(f, new long[] {7, 12});
    List<Fetched> otherKey = trainingLoss(f, new long[] {8, 11});
    for (int i = 0; i < 4; i++) {
      assertThat(again.get(i).values())
          .as("output %d, same seed", i)
          .containsExactly(first.get(i).values());
    }
    for (List<Fetched> different : List.of(other, otherKey)) {
      assertThat(different.get(1).ints()).isNotEqualTo(first.get(1).ints());
      assertThat(different.get(2).values()).isNotEqualTo(first.get(2).values());
    }
  }

  /**
   * 20000 draws of t over T = 1000: every timestep appears (a given one is missed with probability
   * (1 - 1/1000)^20000 ≈ 2e-9, any of them with about 2e-6), and the counts in 10 bins of 100 steps
   * pass a chi-square test at p = 1e-6 (critical value 44.81 for 9 degrees of freedom). The noise
   * drawn with it has mean 0 and variance 1 within 5 standard errors.
   */
  @Test
  void timestepsAreUniformOverTheScheduleAndNoiseIsStandardNormal() {
    int n = 20000;
    List<Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, NoiseSchedule.linear());
              GaussianDiffusion.Loss loss =
                  d.trainingLoss(
                      (xt, t) -> xt,
                      Prediction.EPSILON,
                      tf.zeros(tf.constant(new int[] {n, 1, 1, 1}), TFloat32.class),
                      tf.constant(new long[] {123, 456}));
              return List.of(loss.t(), loss.noise());
            });
    int[] t = out.get(0).ints();
    assertThat(t).hasSize(n);
    int[] counts = new int[T];
    for (int step : t) {
      assertThat(step).isBetween(0, T - 1);
      counts[step]++;
    }
    assertThat(counts).as("every timestep drawn at least once").doesNotContain(0);
    int bins = 10;
    double expectedPerBin = (double) n / bins;
    double chiSquare = 0;
    for (int bin = 0; bin < bins; bin++) {
      int count = 0;
      for (int step = bin * T / bins; step < (bin + 1) * T / bins; step++) {
        count += counts[step];
      }
      chiSquare += (count - expectedPerBin) * (count - expectedPerBin) / expectedPerBin;
    }
    assertThat(chiSquare).as("chi-square, 9 degrees of freedom").isLessThan(44.81);

    double[] noise = out.get(1).values();
    assertThat(mean(noise)).isCloseTo(0.0, within(5 * Math.sqrt(1.0 / n)));
    assertThat(variance(noise)).isCloseTo(1.0, within(5 * Math.sqrt(2.0 / n)));
  }

  static double mean(double[] values) {
    double sum = 0;
    for (double v : values) {
      sum += v;
    }
    return sum / values.length;
  }

  /** The population variance (divides by N). */
  static double variance(double[] values) {
    double m = mean(values);
    double sum = 0;
    for (double v : values) {
      sum += (v - m) * (v - m);
    }
    return sum / values.length;
  }
}
