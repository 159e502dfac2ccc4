package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.sampling.ParityCases.ROUNDINGS;

import java.util.List;
import java.util.Map;
import java.util.Set;
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
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.ReferenceEditing;
import org.tfdiffusion.testing.ReferenceSamplers;
import org.tfdiffusion.testing.RowNoiseValues;

/**
 * A loop started from a given x_t at step k of a plan ({@link Trajectory#startingAt}, {@link
 * SamplingPlan#startingAt}), in the compiled loop and in the host loop, against the sampler's loop
 * in plain Java from the same x_t over the steps k..N-1, diffusers' way: a multistep solver keeps
 * no model output from before the start, so DPM-Solver++ takes step k at first order ({@code
 * set_begin_index}, {@code lower_order_nums = 0}). Same dummy model, the graph's own noise for step
 * k + j from counter j + 1, and the rounding bound of {@link ReferenceSamplers#run} (the start is
 * fed exactly). Images are 2 × 4 × 4 × 1.
 */
class StartAtStepTest {
  private static final Shape IMAGE = Shape.of(4, 4, 1);
  private static final long[] SEEDS = {3, 11};

  /** Every sampler and its multistep variants: DDPM, DDIM (η = 0 and η &gt; 0), DPM-Solver++. */
  private static final Set<String> COVERED =
      Set.of(
          "ddpm 50 respaced, posterior variance",
          "ddpm 50 respaced, clip 1",
          "ddim 10 eta 0.7 leading offset 1",
          "ddim 10 eta 0 trailing final alpha_bar_0",
          "ddim 7 eta 0 linspace, v",
          "dpm++ 10 diffusers defaults (order 2, linspace)",
          "dpm++ 20 order 1 trailing, v",
          "dpm++ 20 order 2 trailing sigma_min (2nd order to the end)",
          "dpm++ 10 order 2 linspace sigma_min no lower_order_final");

  static Stream<ParityCases.Case> cases() {
    return ParityCases.all().stream().filter(c -> COVERED.contains(c.name()));
  }

  @Test
  void everyCoveredSettingIsAParityCase() {
    assertThat(cases().map(ParityCases.Case::name)).containsExactlyInAnyOrderElementsOf(COVERED);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void theCutKeepsEveryStepOfThePlanAndDropsTheHistoryAtItsStart(ParityCases.Case c) {
    SamplingPlan plan = c.plan();
    int n = plan.steps();
    for (int k : new int[] {1, n / 2, n - 1}) {
      SamplingPlan cut = plan.startingAt(k);
      assertThat(cut.steps()).isEqualTo(n - k);
      assertThat(cut.timesteps().toArray())
          .containsExactly(plan.timesteps().subArray(k, n).toArray());
      assertThat(cut.alphasCumprod()).isEqualTo(plan.alphasCumprod().subArray(k, n));
      assertThat(cut.xCoef()).isEqualTo(plan.xCoef().subArray(k, n));
      assertThat(cut.x0Coef()).isEqualTo(plan.x0Coef().subArray(k, n));
      assertThat(cut.epsCoef()).isEqualTo(plan.epsCoef().subArray(k, n));
      assertThat(cut.noiseCoef()).isEqualTo(plan.noiseCoef().subArray(k, n));
      assertThat(cut.x0DeltaCoef().get(0)).as("no previous x0 at the start").isZero();
      assertThat(cut.x0DeltaCoef().subArray(1, n - k))
          .isEqualTo(plan.x0DeltaCoef().subArray(k + 1, n));
      assertThat(cut.etaTerms().isPresent()).isEqualTo(plan.etaTerms().isPresent());
      plan.etaTerms()
          .ifPresent(
              e -> {
                assertThat(cut.etaTerms().get().sigmaUnit())
                    .isEqualTo(e.sigmaUnit().subArray(k, n));
                assertThat(cut.etaTerms().get().oneMinusAlphaBarPrev())
                    .isEqualTo(e.oneMinusAlphaBarPrev().subArray(k, n));
              });
      assertThat(cut.x0Guard()).isEqualTo(plan.x0Guard());
      assertThat(cut.prediction()).isEqualTo(plan.prediction());
    }
    assertThat(plan.startingAt(0)).isSameAs(plan);
  }

  /**
   * The first step of a cut second-order DPM-Solver++ plan is the first-order solver's step there,
   * and the second one is second order again.
   */
  @Test
  void theCutSecondOrderSolverStartsAtFirstOrder() {
    SamplingPlan second =
        DpmSolverPlusPlusSampler.of(10).plan(ParityCases.SCHEDULE, Prediction.EPSILON);
    SamplingPlan first =
        new DpmSolverPlusPlusSampler(10, 1, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO)
            .plan(ParityCases.SCHEDULE, Prediction.EPSILON);
    int k = 4;
    SamplingPlan cut = second.startingAt(k);
    assertThat(cut.xCoef().get(0)).isEqualTo(first.xCoef().get(k));
    assertThat(cut.x0Coef().get(0)).isEqualTo(first.x0Coef().get(k));
    assertThat(cut.x0DeltaCoef().get(0)).isZero();
    assertThat(second.x0DeltaCoef().get(k))
        .as("the full plan's step k is second order")
        .isNotZero();
    assertThat(cut.x0DeltaCoef().get(1)).isEqualTo(second.x0DeltaCoef().get(k + 1)).isNotZero();
  }

  @Test
  void aPathResetsTheHistoryWhereItJumps() {
    SamplingPlan plan =
        DpmSolverPlusPlusSampler.of(10).plan(ParityCases.SCHEDULE, Prediction.EPSILON);
    SamplingPlan walked = plan.onPath("walk", 2, 3, 4, 3, 4, 5);
    assertThat(walked.timesteps().toArray())
        .containsExactly(
            plan.timesteps().get(2),
            plan.timesteps().get(3),
            plan.timesteps().get(4),
            plan.timesteps().get(3),
            plan.timesteps().get(4),
            plan.timesteps().get(5));
    assertThat(walked.x0DeltaCoef().toArray())
        .containsExactly(
            0,
            plan.x0DeltaCoef().get(3),
            plan.x0DeltaCoef().get(4),
            0,
            plan.x0DeltaCoef().get(4),
            plan.x0DeltaCoef().get(5));
  }

  @Test
  void aStartOutsideThePlanIsRejected() {
    SamplingPlan plan = DdimSampler.of(10, 0).plan(ParityCases.SCHEDULE, Prediction.EPSILON);
    assertThatThrownBy(() -> plan.startingAt(10))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("start step must be in [0, 10), got 10");
    assertThatThrownBy(() -> plan.startingAt(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got -1");
    assertThatThrownBy(() -> plan.onPath("p", 0, 12))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("path entry 1 is step 12, outside [0, 10)");
  }

  @Test
  void aStartOfTheWrongImageSizeIsRejected() {
    SamplingPlan plan = DdimSampler.of(10, 0).plan(ParityCases.SCHEDULE, Prediction.EPSILON);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Trajectory t =
          Trajectory.startingAt(
              plan,
              3,
              tf.zeros(tf.constant(new int[] {2, 4, 4, 3}), TFloat32.class),
              tf.constant(SEEDS));
      assertThatThrownBy(
              () -> SamplingLoop.compiled(tf, t, IMAGE, ParityCases.DUMMY, Map.of(), List.of(), 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("but the model makes [B, 4, 4, 1] images");
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledAndHostLoopsFromStepKMatchThePlainJavaLoopFromStepK(ParityCases.Case c) {
    SamplingPlan plan = c.plan();
    int n = plan.steps();
    int k = n / 2;
    float[][] noise = RowNoiseValues.draw(SEEDS, IMAGE, RowNoiseValues.counters(0, n - k + 1));
    float[] start = new float[noise[0].length];
    for (int e = 0; e < start.length; e++) {
      start[e] = 0.6f * noise[0][e] + 0.2f;
    }
    float[][] stepNoise = new float[n - k][];
    System.arraycopy(noise, 1, stepNoise, 0, n - k);
    ReferenceSamplers.Run expected =
        ReferenceSamplers.run(
            ReferenceEditing.onPath(c.referenceSampler(), ReferenceEditing.tail(n, k)),
            start,
            stepNoise,
            ROUNDINGS);
    for (boolean host : new boolean[] {false, true}) {
      float[] actual = run(plan, k, start, host);
      ArrayAsserts.assertWithin(
          c + (host ? ", host loop" : ", compiled loop") + " from step " + k,
          actual,
          expected.x(),
          expected.roundingBound());
    }
  }

  private static float[] run(SamplingPlan plan, int k, float[] start, boolean host) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 4, 4, 1)));
      Trajectory trajectory = Trajectory.startingAt(plan, k, x, seeds);
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
                      tf, trajectory, IMAGE, ParityCases.DUMMY, Map.of(), List.of(), 0)
                  .samples();
      try (Session s = new Session(g);
          TInt64 seedValues = TensorIO.longs(SEEDS);
          TFloat32 startValue = TensorIO.floats(Shape.of(SEEDS.length, 4, 4, 1), start)) {
        Map<Operand<?>, Tensor> feeds = Map.of(seeds, seedValues, x, startValue);
        if (host) {
          int[] steps = {0};
          try (TFloat32 out = loop.run(s, feeds, done -> steps[0] = done)) {
            assertThat(steps[0]).isEqualTo(plan.steps() - k);
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
