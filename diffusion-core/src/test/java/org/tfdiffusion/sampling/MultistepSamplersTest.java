package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.sampling.SigmaSamplersTest.IMAGE;
import static org.tfdiffusion.sampling.SigmaSamplersTest.ROWS;
import static org.tfdiffusion.sampling.SigmaSamplersTest.SEEDS;
import static org.tfdiffusion.sampling.SigmaSamplersTest.SIZE;

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
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceMultistepSchedulers;
import org.tfdiffusion.testing.ReferenceMultistepSchedulers.DpmConfig;

/**
 * The multistep solvers of third order and in noise prediction (DPM-Solver++ 3M and its SDE form,
 * DPM-Solver orders 1-3) in the compiled loop and in the host loop against a plain-Java double
 * re-implementation of diffusers' {@code DPMSolverMultistepScheduler} ({@link
 * ReferenceMultistepSchedulers}), from the same start and with the same noise, with the dummy model
 * {@code sample * t / (t + 1)}; also started at a later step ({@code set_begin_index}), where the
 * history starts empty. diffusers' scheduler tests publish no full-loop number for these settings.
 */
class MultistepSamplersTest {
  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** One DPM-Solver(++) setting: the sampler and its reference config. */
  record DpmCase(String name, Sampler sampler, DpmConfig reference) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static SigmaSpacing sigmaSpacing(String sigmas) {
    return sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas);
  }

  private static DpmCase plusPlus(
      int steps,
      int order,
      String sigmas,
      boolean lowerOrderFinal,
      FinalSigma finalSigma,
      boolean sde,
      Prediction prediction) {
    Sampler sampler =
        new DpmSolverPlusPlusSampler(
            steps,
            order,
            TimestepSpacing.LINSPACE,
            0,
            lowerOrderFinal,
            finalSigma,
            X0Guard.none(),
            sigmaSpacing(sigmas),
            false,
            sde);
    DpmConfig reference =
        new DpmConfig(
            steps,
            order,
            sde ? "sde-dpmsolver++" : "dpmsolver++",
            sigmas,
            lowerOrderFinal,
            false,
            finalSigma == FinalSigma.ZERO,
            prediction,
            0);
    String name =
        String.format(
            "%s order %d, %d steps, %s, %s%s, %s",
            sde ? "sde-dpm-solver++" : "dpm-solver++",
            order,
            steps,
            sigmas,
            finalSigma,
            lowerOrderFinal ? "" : ", no lower-order final",
            prediction);
    return new DpmCase(name, sampler, reference);
  }

  private static DpmCase noisePrediction(
      int steps, int order, String sigmas, boolean lowerOrderFinal, Prediction prediction) {
    Sampler sampler =
        new DpmSolverSampler(
            steps,
            order,
            TimestepSpacing.LINSPACE,
            0,
            lowerOrderFinal,
            false,
            sigmaSpacing(sigmas),
            X0Guard.none());
    DpmConfig reference =
        new DpmConfig(
            steps, order, "dpmsolver", sigmas, lowerOrderFinal, false, false, prediction, 0);
    String name =
        String.format(
            "dpm-solver order %d, %d steps, %s%s, %s",
            order, steps, sigmas, lowerOrderFinal ? "" : ", no lower-order final", prediction);
    return new DpmCase(name, sampler, reference);
  }

  static Stream<DpmCase> dpmCases() {
    return Stream.of(
        plusPlus(10, 3, "none", true, FinalSigma.ZERO, false, EPS),
        plusPlus(20, 3, "karras", true, FinalSigma.SIGMA_MIN, false, V),
        plusPlus(16, 3, "lu", true, FinalSigma.ZERO, false, X0),
        plusPlus(12, 3, "none", false, FinalSigma.SIGMA_MIN, false, EPS),
        plusPlus(12, 3, "karras", true, FinalSigma.ZERO, true, EPS),
        noisePrediction(10, 1, "none", true, EPS),
        noisePrediction(12, 2, "karras", true, V),
        noisePrediction(10, 3, "none", true, EPS),
        noisePrediction(20, 3, "lu", true, X0),
        noisePrediction(12, 3, "none", false, V));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dpmCases")
  void compiledAndHostLoopsMatchDiffusersSchedulerInPlainJava(DpmCase c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.reference().prediction());
    double[] start = SigmaSamplersTest.startNoise();
    float[][] noise = SigmaSamplersTest.noiseRows(plan.steps());
    double[] expected =
        ReferenceMultistepSchedulers.dpmSolver(
            ParityCases.REFERENCE.alphasCumprod,
            c.reference(),
            start,
            SigmaSamplersTest.widen(noise));
    SigmaSamplersTest.assertClose(c + ", compiled loop", run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(c + ", host loop", run(plan, 0, start, true), expected);
  }

  static Stream<DpmCase> restartCases() {
    return Stream.of(
        plusPlus(10, 3, "none", true, FinalSigma.ZERO, false, EPS),
        plusPlus(16, 3, "karras", false, FinalSigma.SIGMA_MIN, false, V),
        noisePrediction(12, 3, "none", false, EPS));
  }

  /**
   * A loop started at step k (image-to-image) takes the first two steps at first and second order,
   * as diffusers' scheduler does after {@code set_begin_index(k)}.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("restartCases")
  void loopsStartedAtAStepMatchDiffusersSchedulerStartedThere(DpmCase c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.reference().prediction());
    int k = 4;
    double[] start = SigmaSamplersTest.startNoise();
    float[][] noise = SigmaSamplersTest.noiseRows(plan.steps() - k);
    DpmConfig r = c.reference();
    DpmConfig fromK =
        new DpmConfig(
            r.steps(),
            r.order(),
            r.algorithm(),
            r.sigmas(),
            r.lowerOrderFinal(),
            r.eulerAtFinal(),
            r.finalSigmaZero(),
            r.prediction(),
            k);
    IntFunction<double[]> widened = SigmaSamplersTest.widen(noise);
    double[] expected =
        ReferenceMultistepSchedulers.dpmSolver(
            ParityCases.REFERENCE.alphasCumprod, fromK, start, i -> widened.apply(i - k));
    SigmaSamplersTest.assertClose(
        c + ", compiled loop from step " + k, run(plan, k, start, false), expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop from step " + k, run(plan, k, start, true), expected);
    SamplingPlan cut = plan.startingAt(k);
    assertThat(cut.x0Delta2Coef().get(1)).as("no m_{i-2} at the cut's second step").isZero();
    assertThat(cut.x0Delta2Coef().get(2)).isEqualTo(plan.x0Delta2Coef().get(k + 2)).isNotZero();
  }

  @Test
  void thirdOrderStepsAreWhereDiffusersTakesThem() {
    // 10 steps, lower-order final: orders 1, 2, 3, ..., 3, 2, 1
    SamplingPlan plan =
        new DpmSolverPlusPlusSampler(10, 3, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO)
            .plan(NoiseSchedule.linear(), EPS);
    double[] e = plan.x0Delta2Coef().toArray();
    double[] d = plan.x0DeltaCoef().toArray();
    for (int i = 0; i < 10; i++) {
      boolean third = i >= 2 && i <= 7;
      assertThat(e[i] != 0).as("third order at step %s", i).isEqualTo(third);
      assertThat(d[i] != 0).as("a multistep term at step %s", i).isEqualTo(i >= 1 && i <= 8);
    }
    assertThat(plan.deepHistory()).isTrue();
    assertThat(DpmSolverPlusPlusSampler.of(10).plan(NoiseSchedule.linear(), EPS).deepHistory())
        .as("second order keeps one earlier output")
        .isFalse();
  }

  @Test
  void dpmSolverIsFoundByNameAndRefusesWhatItHasNot() {
    assertThat(SamplerKind.lookup("dpm-solver")).isEqualTo(SamplerKind.DPM_SOLVER);
    assertThat(SamplerKind.lookup("dpmsolver")).isEqualTo(SamplerKind.DPM_SOLVER);
    assertThat(SamplerKind.DPM_SOLVER.create(10, 0))
        .isEqualTo(DpmSolverSampler.of(10))
        .extracting(s -> ((DpmSolverSampler) s).order())
        .isEqualTo(2);
    assertThatThrownBy(() -> DpmSolverSampler.of(10).withOrder(4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("DPM-Solver order must be 1, 2 or 3, got 4");
    assertThatThrownBy(
            () ->
                new DpmSolverPlusPlusSampler(
                    10, 4, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("DPM-Solver++ order must be 1, 2 or 3, got 4");
    SamplingPlan plan = DpmSolverSampler.of(10).plan(NoiseSchedule.linear(), EPS);
    assertThat(plan.history()).isEqualTo(SamplingPlan.History.EPS);
    assertThat(plan.name()).startsWith("dpm-solver(steps=10, order=2");
    SamplingPlan guarded =
        DpmSolverSampler.of(10).withGuard(X0Guard.dynamic(0.995)).plan(NoiseSchedule.linear(), EPS);
    assertThat(guarded.x0Guard().recomputeEps()).as("ε̂ from the guarded x̂_0").isTrue();
  }

  /**
   * The loop over {@code plan} from step k, started at x = {@code start} (all rows), in the
   * compiled loop or in the host loop, with the dummy model.
   */
  static float[] run(SamplingPlan plan, int k, double[] start, boolean host) {
    float[] x = new float[SIZE];
    for (int e = 0; e < SIZE; e++) {
      x[e] = (float) start[e];
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Placeholder<TFloat32> xt =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 8, 8, 3)));
      Trajectory trajectory = Trajectory.startingAt(plan, k, xt, seeds);
      HostLoop loop =
          host
              ? new HostLoop(
                  tf,
                  trajectory,
                  IMAGE,
                  ParityCases.DUMMY,
                  new BoundParameters(Map.of()),
                  List.of())
              : null;
      Operand<TFloat32> samples =
          host
              ? null
              : SamplingLoop.compiled(
                      tf,
                      trajectory,
                      IMAGE,
                      ParityCases.DUMMY,
                      Map.<String, Operand<TFloat32>>of(),
                      List.of(),
                      0)
                  .samples();
      try (Session s = new Session(g);
          TInt64 seedValues = TInt64.vectorOf(SEEDS);
          TFloat32 startValue = TensorIO.floats(Shape.of(ROWS, 8, 8, 3), x)) {
        Map<Operand<?>, Tensor> feeds = Map.of(seeds, seedValues, xt, startValue);
        if (host) {
          try (TFloat32 out = loop.run(s, feeds, done -> {})) {
            return TensorIO.toFloats(out);
          }
        }
        Session.Runner runner = s.runner().fetch(samples);
        feeds.forEach(runner::feed);
        try (Result r = runner.run()) {
          return TensorIO.toFloats(r.get(0));
        }
      }
    }
  }
}
