package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceSchedule;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers.Drive;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers.Kind;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers.Levels;

/**
 * Euler, Euler ancestral, Heun and the DPM-Solver++ options against diffusers' scheduler tests
 * (tests/schedulers/test_scheduler_euler.py, test_scheduler_heun.py, test_scheduler_dpm_multi.py:
 * the published sums and means of |x| after the full loop on the dummy model {@code sample * t / (t
 * + 1)} from the dummy sample, within diffusers' tolerances) and against a plain-Java double
 * re-implementation of diffusers' schedulers ({@link ReferenceSigmaSchedulers}) at other settings,
 * run by the compiled loop from the same start and with the same noise.
 *
 * <p>The Euler and Heun numbers come from diffusers' test loop, which passes fractional timesteps
 * to the model and hands {@code step} the input-scaled sample; they are reproduced by the reference
 * driven that way, and the samplers are held to the same reference driven as a pipeline with an
 * integer-timestep model. The DPM-Solver++ numbers (integer timesteps, no input scaling) are
 * reproduced by the sampler's own compiled loop.
 */
class SigmaSamplersTest {
  /** diffusers' dummy_sample_deter: 4 × 3 × 8 × 8, here as 4 rows of [8, 8, 3]. */
  static final Shape IMAGE = Shape.of(8, 8, 3);

  static final int ROWS = 4;
  private static final int ROW_SIZE = 8 * 8 * 3;
  static final int SIZE = ROWS * ROW_SIZE;
  static final long[] SEEDS = {3, 11, 17, 29};

  /**
   * {@code arange(768).reshape(3, 8, 8, 4) / 768} permuted to batch first: row b holds (4j + b) /
   * 768, j = 0..191 (the order within a row does not matter to an elementwise model and sampler).
   */
  static double[] dummySampleDeter() {
    double[] out = new double[SIZE];
    for (int b = 0; b < ROWS; b++) {
      for (int j = 0; j < ROW_SIZE; j++) {
        out[b * ROW_SIZE + j] = (4.0 * j + b) / SIZE;
      }
    }
    return out;
  }

  /** diffusers' Euler and Heun test config: T = 1100, linear β from 1e-4 to 0.02. */
  private static final double[] EULER_TEST_ALPHAS_CUMPROD =
      ReferenceSchedule.of(BetaSchedule.LINEAR, 1100, 0.0001, 0.02).alphasCumprod;

  static double sumAbs(double[] x) {
    double s = 0;
    for (double v : x) {
      s += Math.abs(v);
    }
    return s;
  }

  static double sumAbs(float[] x) {
    double s = 0;
    for (float v : x) {
      s += Math.abs(v);
    }
    return s;
  }

  private static double[] diffusersTest(Kind kind, Prediction prediction, String sigmas) {
    Levels levels =
        ReferenceSigmaSchedulers.levels(
            EULER_TEST_ALPHAS_CUMPROD, 10, "linspace", 0, sigmas, false);
    return ReferenceSigmaSchedulers.run(
        kind, levels, prediction, Drive.DIFFUSERS_TEST, "linspace", dummySampleDeter(), null);
  }

  private static void assertPublished(double[] x, double sum, double mean) {
    assertThat(sumAbs(x)).as("result_sum").isCloseTo(sum, within(1e-2));
    assertThat(sumAbs(x) / SIZE).as("result_mean").isCloseTo(mean, within(1e-3));
  }

  // ---------------------------------------------------------------------------------------------
  // diffusers' published numbers

  @Test
  void eulerTestFullLoopNoNoise() {
    assertPublished(diffusersTest(Kind.EULER, Prediction.EPSILON, "none"), 10.0807, 0.0131);
  }

  @Test
  void eulerTestFullLoopWithVPrediction() {
    assertPublished(diffusersTest(Kind.EULER, Prediction.V_PREDICTION, "none"), 0.0002, 2.2676e-06);
  }

  @Test
  void eulerTestFullLoopDeviceKarrasSigmas() {
    assertPublished(
        diffusersTest(Kind.EULER, Prediction.EPSILON, "karras"),
        124.52299499511719,
        0.16213932633399963);
  }

  @Test
  void heunTestFullLoopNoNoise() {
    assertPublished(diffusersTest(Kind.HEUN, Prediction.EPSILON, "none"), 0.1233, 0.0002);
  }

  @Test
  void heunTestFullLoopWithVPrediction() {
    assertPublished(
        diffusersTest(Kind.HEUN, Prediction.V_PREDICTION, "none"), 4.6934e-07, 6.1112e-10);
  }

  @Test
  void heunTestFullLoopDeviceKarrasSigmas() {
    assertPublished(
        diffusersTest(Kind.HEUN, Prediction.EPSILON, "karras"), 0.00015, 1.9869554535034695e-07);
  }

  /** test_scheduler_dpm_multi.py's config: order 2, no lower-order final, final σ = σ_min. */
  private static DpmSolverPlusPlusSampler dpmTestConfig(SigmaSpacing sigmas, X0Guard guard) {
    return new DpmSolverPlusPlusSampler(
        10,
        2,
        TimestepSpacing.LINSPACE,
        0,
        false,
        FinalSigma.SIGMA_MIN,
        guard,
        sigmas,
        false,
        false);
  }

  private static double dpmMean(SigmaSpacing sigmas, X0Guard guard, Prediction prediction) {
    SamplingPlan plan = dpmTestConfig(sigmas, guard).plan(NoiseSchedule.linear(), prediction);
    return sumAbs(loop(plan, dummySampleDeter())) / SIZE;
  }

  @Test
  void dpmMultiTestFullLoopNoNoise() {
    assertThat(dpmMean(SigmaSpacing.TIMESTEPS, X0Guard.none(), Prediction.EPSILON))
        .isCloseTo(0.3301, within(1e-3));
  }

  @Test
  void dpmMultiTestFullLoopWithVPrediction() {
    assertThat(dpmMean(SigmaSpacing.TIMESTEPS, X0Guard.none(), Prediction.V_PREDICTION))
        .isCloseTo(0.2251, within(1e-3));
  }

  @Test
  void dpmMultiTestFullLoopWithKarrasAndVPrediction() {
    assertThat(dpmMean(SigmaSpacing.KARRAS, X0Guard.none(), Prediction.V_PREDICTION))
        .isCloseTo(0.2096, within(1e-3));
  }

  @Test
  void dpmMultiTestFullLoopWithLuAndVPrediction() {
    assertThat(dpmMean(SigmaSpacing.EXPONENTIAL, X0Guard.none(), Prediction.V_PREDICTION))
        .isCloseTo(0.1554, within(1e-3));
  }

  @Test
  void dpmMultiTestFullLoopNoNoiseThres() {
    // thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5
    assertThat(dpmMean(SigmaSpacing.TIMESTEPS, X0Guard.dynamic(0.87, 0.5), Prediction.EPSILON))
        .isCloseTo(1.1364, within(1e-3));
  }

  // ---------------------------------------------------------------------------------------------
  // the samplers against the reference at other settings

  /** One setting of a σ-space sampler and its reference. */
  record Case(
      String name,
      Sampler sampler,
      Prediction prediction,
      Kind kind,
      String spacing,
      int offset,
      String sigmas,
      int steps) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  private static Case sigmaCase(
      Kind kind, int steps, String spacing, int offset, String sigmas, Prediction prediction) {
    TimestepSpacing s = TimestepSpacing.lookup(spacing);
    SigmaSpacing levels =
        sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas);
    Sampler sampler =
        switch (kind) {
          case EULER -> new EulerSampler(steps, s, offset, levels);
          case EULER_ANCESTRAL -> new EulerAncestralSampler(steps, s, offset, levels);
          case HEUN -> new HeunSampler(steps, s, offset, levels);
        };
    String name =
        String.format(
            "%s %d %s%s %s %s",
            kind, steps, spacing, offset > 0 ? " offset " + offset : "", sigmas, prediction);
    return new Case(name, sampler, prediction, kind, spacing, offset, sigmas, steps);
  }

  static Stream<Case> sigmaCases() {
    return Stream.of(
        sigmaCase(Kind.EULER, 10, "linspace", 0, "none", EPS),
        sigmaCase(Kind.EULER, 10, "linspace", 0, "karras", V),
        sigmaCase(Kind.EULER, 7, "trailing", 0, "exponential", EPS),
        sigmaCase(Kind.EULER, 12, "leading", 1, "none", X0),
        sigmaCase(Kind.EULER, 25, "leading", 1, "karras", EPS),
        sigmaCase(Kind.EULER_ANCESTRAL, 10, "linspace", 0, "none", EPS),
        sigmaCase(Kind.EULER_ANCESTRAL, 15, "trailing", 0, "karras", V),
        sigmaCase(Kind.HEUN, 10, "linspace", 0, "none", EPS),
        sigmaCase(Kind.HEUN, 6, "linspace", 0, "karras", V),
        sigmaCase(Kind.HEUN, 5, "trailing", 0, "none", X0),
        sigmaCase(Kind.HEUN, 8, "leading", 1, "exponential", EPS));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("sigmaCases")
  void compiledLoopMatchesDiffusersSchedulerInPlainJava(Case c) {
    NoiseSchedule schedule = NoiseSchedule.linear();
    SamplingPlan plan = c.sampler().plan(schedule, c.prediction());
    double[] start = startNoise();
    float[][] noise = noiseRows(plan.steps());
    Levels levels =
        ReferenceSigmaSchedulers.levels(
            ParityCases.REFERENCE.alphasCumprod,
            c.steps(),
            c.spacing(),
            c.offset(),
            c.sigmas(),
            true);
    double[] expected =
        ReferenceSigmaSchedulers.run(
            c.kind(), levels, c.prediction(), Drive.PIPELINE, c.spacing(), start, widen(noise));
    assertClose(c.name(), loop(plan, start), expected);
  }

  /** DPM-Solver++ settings, with the noise of the SDE variant. */
  record DpmCase(
      String name,
      int steps,
      int order,
      String sigmas,
      boolean lowerOrderFinal,
      boolean eulerAtFinal,
      FinalSigma finalSigma,
      boolean sde,
      Prediction prediction) {
    DpmSolverPlusPlusSampler sampler() {
      return new DpmSolverPlusPlusSampler(
          steps,
          order,
          TimestepSpacing.LINSPACE,
          0,
          lowerOrderFinal,
          finalSigma,
          X0Guard.none(),
          sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas),
          eulerAtFinal,
          sde);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<DpmCase> dpmCases() {
    return Stream.of(
        new DpmCase("sde 10 order 2", 10, 2, "none", true, false, FinalSigma.ZERO, true, EPS),
        new DpmCase(
            "sde 12 order 2 karras, v", 12, 2, "karras", false, false, FinalSigma.ZERO, true, V),
        new DpmCase("sde 8 order 1 lu", 8, 1, "lu", true, false, FinalSigma.ZERO, true, EPS),
        new DpmCase(
            "ode 20 karras sigma_min euler_at_final",
            20,
            2,
            "karras",
            true,
            true,
            FinalSigma.SIGMA_MIN,
            false,
            EPS),
        new DpmCase(
            "ode 20 karras sigma_min second order to the end",
            20,
            2,
            "karras",
            true,
            false,
            FinalSigma.SIGMA_MIN,
            false,
            EPS),
        new DpmCase("ode 10 lu, x0", 10, 2, "lu", true, false, FinalSigma.ZERO, false, X0));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dpmCases")
  void dpmSolverOptionsMatchDiffusersSchedulerInPlainJava(DpmCase c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.prediction());
    double[] start = startNoise();
    float[][] noise = noiseRows(plan.steps());
    double[] expected =
        ReferenceSigmaSchedulers.dpmSolver(
            ParityCases.REFERENCE.alphasCumprod,
            c.steps(),
            c.order(),
            c.sigmas(),
            c.lowerOrderFinal(),
            c.eulerAtFinal(),
            c.finalSigma() == FinalSigma.ZERO,
            c.sde(),
            c.prediction(),
            start,
            widen(noise));
    assertClose(c.name(), loop(plan, start), expected);
  }

  @Test
  void newSamplersAreFoundByName() {
    assertThat(SamplerKind.lookup("euler")).isEqualTo(SamplerKind.EULER);
    assertThat(SamplerKind.lookup("Euler-A")).isEqualTo(SamplerKind.EULER_ANCESTRAL);
    assertThat(SamplerKind.lookup("heun")).isEqualTo(SamplerKind.HEUN);
    assertThat(SamplerKind.lookup("sde-dpmsolver++")).isEqualTo(SamplerKind.DPMPP_SDE);
    assertThat(SigmaSpacing.lookup("lu")).isEqualTo(SigmaSpacing.EXPONENTIAL);
    for (SamplerKind kind : SamplerKind.values()) {
      SamplingPlan plan = kind.create(10, 0).plan(NoiseSchedule.linear(), Prediction.EPSILON);
      String prefix = plan.name().substring(0, plan.name().indexOf('('));
      assertThat(SamplerKind.lookup(prefix)).as(plan.name()).isEqualTo(kind);
    }
    assertThat(HeunSampler.of(10).plan(NoiseSchedule.linear(), EPS).steps()).isEqualTo(19);
    assertThatThrownBy(() -> SigmaSpacing.lookup("polyexponential"))
        .hasMessageContaining("valid: timesteps, karras, exponential");
  }

  // ---------------------------------------------------------------------------------------------
  // running the compiled loop

  /** Tolerance per element: float32 over at most 20 steps on samples of size about 1. */
  private static final double TOLERANCE = 5e-5;

  static void assertClose(String name, float[] actual, double[] expected) {
    double worst = 0;
    for (int k = 0; k < SIZE; k++) {
      worst = Math.max(worst, Math.abs(actual[k] - expected[k]) / (1 + Math.abs(expected[k])));
    }
    assertThat(worst).as("%s: largest relative difference", name).isLessThan(TOLERANCE);
    // the sum catches a bias the per-element check lets through; float32's rounding over the
    // steps moves a sum of several hundred by a few parts in 10^6
    double sum = sumAbs(expected);
    assertThat(sumAbs(actual))
        .as("%s: sum |x|", name)
        .isCloseTo(sum, within(Math.max(1e-3, 2e-6 * sum)));
  }

  /** A start x ~ N(0, I) that is not the loop's own (a fixed row of the graph's noise). */
  static double[] startNoise() {
    float[][] rows = noiseRows(0);
    double[] out = new double[SIZE];
    for (int k = 0; k < SIZE; k++) {
      out[k] = rows[0][k];
    }
    return out;
  }

  static IntFunction<double[]> widen(float[][] noise) {
    return i -> {
      double[] out = new double[SIZE];
      for (int k = 0; k < SIZE; k++) {
        out[k] = noise[i + 1][k];
      }
      return out;
    };
  }

  /** The loop's per-row noise for {@link #SEEDS}, counters 0..count (step i draws i + 1). */
  static float[][] noiseRows(int count) {
    float[][] rows = new float[count + 1][];
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> counter = tf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
      Operand<TFloat32> z = RowNoise.normal(tf, tf.constant(SEEDS), counter, IMAGE);
      try (Session s = new Session(g)) {
        for (int c = 0; c <= count; c++) {
          try (TInt64 value = TInt64.scalarOf(c);
              Result r = s.runner().feed(counter, value).fetch(z).run()) {
            rows[c] = TensorIO.toFloats(r.get(0));
          }
        }
      }
    }
    return rows;
  }

  /** The compiled loop over all of {@code plan} from x = {@code start}, with the dummy model. */
  static float[] loop(SamplingPlan plan, double[] start) {
    float[] x = new float[SIZE];
    for (int k = 0; k < SIZE; k++) {
      x[k] = (float) start[k];
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> xt = tf.reshape(tf.constant(x), tf.constant(new long[] {ROWS, 8, 8, 3}));
      SamplingLoop.Outputs out =
          SamplingLoop.compiled(
              tf,
              Trajectory.startingAt(plan, 0, xt, seeds),
              IMAGE,
              ParityCases.DUMMY,
              Map.<String, Operand<TFloat32>>of(),
              List.of(),
              0);
      try (Session s = new Session(g);
          TInt64 seedValues = TInt64.vectorOf(SEEDS);
          Result r = s.runner().feed(seeds, seedValues).fetch(out.samples()).run()) {
        return TensorIO.toFloats(r.get(0));
      }
    }
  }
}
