package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.sampling.ParityCases.REFERENCE;
import static org.tfdiffusion.sampling.ParityCases.ROUNDINGS;
import static org.tfdiffusion.testing.ReferenceSamplers.FLOAT32_UNIT_ROUNDOFF;

import java.util.List;
import java.util.Map;
import java.util.Optional;
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
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.ReferenceSamplers;

/**
 * The whole compiled loop ({@link SamplingLoop#compiled}) against the sampler's loop in plain Java
 * ({@link ReferenceSamplers#run}) with the dummy model ε_θ(x, t) = x · t / (t + 1): both start from
 * the same x_T and add the same z_i, the graph's own {@link RowNoise} for counters 0 and i + 1, so
 * the final images must agree up to float32 rounding. Images are 2 × 4 × 4 × 1.
 *
 * <p>Tolerance: per element, the first-order bound of {@link ReferenceSamplers#run}: every step's
 * own rounding taken at its worst (16 u times its absolute-value evaluation, see {@link
 * ParityCases#ROUNDINGS}) and carried to the final sample by the exact sensitivities; for the sum
 * and the mean, the sum and the mean of those bounds. Adding up every step's worst case makes the
 * bound grow with the number of steps: 4e-6 to 7e-5 for the 7 to 50 step settings and 3.2e-4 for
 * the tutorial's 1000 DDPM steps, on samples of size about 1. The errors seen are at most 3% of it
 * (2e-6 after the 1000 DDPM steps), as rounding errors do not all take the same sign; still, a
 * sampling loop that draws step i's noise from counter i + 2, or scales x̂_0^{prev} by 0.999, fails
 * every setting it touches. The coefficients themselves are held to the one-step tolerance in
 * {@link SamplerStepParityTest} and in {@link #ddpmWithAllStepsIsTheTutorialsPSampleStepForStep}.
 */
class SamplerLoopParityTest {
  private static final Shape IMAGE = Shape.of(4, 4, 1);
  private static final long[] SEEDS = {3, 11};
  private static final int SIZE = SEEDS.length * 4 * 4;

  /** The compiled loop of up to this many steps runs in about a second on 2 × 4 × 4 × 1. */
  private static final int LOOP_STEPS = 100;

  /**
   * The settings of {@link ParityCases} with at most {@link #LOOP_STEPS} steps, less those whose
   * result is exactly 0 on both sides: with x̂_0-prediction the dummy model's output at t = 0 is 0,
   * and a DDPM or DDIM step to ᾱ_prev = 1 returns that x̂_0 (their steps are checked one by one in
   * {@link SamplerStepParityTest}).
   */
  static Stream<ParityCases.Case> cases() {
    return ParityCases.all().stream()
        .filter(c -> c.plan().steps() <= LOOP_STEPS)
        .filter(c -> !(c.prediction() == Prediction.SAMPLE && lastTimestep(c) == 0));
  }

  private static int lastTimestep(ParityCases.Case c) {
    int[] timesteps = c.plan().timesteps().toArray();
    return timesteps[timesteps.length - 1];
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledLoopMatchesThePlainJavaLoop(ParityCases.Case c) {
    checkLoop(c);
  }

  @Test
  void compiledTutorialDdpmOverAllThousandStepsMatchesThePlainJavaLoop() {
    checkLoop(ParityCases.TUTORIAL_DDPM);
  }

  /**
   * The same settings in a session with the sampling default, {@link SessionOptions#sampling()}
   * (XLA, with the fast math the launcher and the tests run with): held to the same rounding bound
   * against the noise table computed without XLA. XLA takes only part of this graph: the row
   * noise's {@code StatelessRandomNormal} with int64 seeds has no XLA CPU kernel, so the loop stays
   * in TensorFlow (the trace shows XLA ran the rest); the step's arithmetic is held to XLA step by
   * step in {@link #ddpmStepUnderXlaIsTheTutorialsPSampleStepForStep}.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledLoopUnderXlaMatchesThePlainJavaLoop(ParityCases.Case c) {
    checkLoop(c, SessionOptions.sampling());
  }

  private static void checkLoop(ParityCases.Case c) {
    checkLoop(c, SessionOptions.defaults());
  }

  private static void checkLoop(ParityCases.Case c, SessionOptions options) {
    SamplingPlan plan = c.plan();
    ReferenceSamplers.Sampler reference = c.referenceSampler();
    int steps = plan.steps();
    float[][] counters = RowNoiseTable.rows(steps + 1);
    float[][] stepNoise = new float[steps][];
    System.arraycopy(counters, 1, stepNoise, 0, steps);
    ReferenceSamplers.Run expected =
        ReferenceSamplers.run(reference, counters[0], stepNoise, ROUNDINGS);
    float[] actual = compiled(plan, options);

    ArrayAsserts.assertWithin(
        c + ": final samples", actual, expected.x(), expected.roundingBound());
    double sum = 0;
    double expectedSum = 0;
    double sumBound = 0;
    for (int k = 0; k < SIZE; k++) {
      sum += actual[k];
      expectedSum += expected.x()[k];
      sumBound += expected.roundingBound()[k];
    }
    assertThat(sum).as("%s: sum", c).isCloseTo(expectedSum, within(sumBound));
    assertThat(sum / SIZE).as("%s: mean", c).isCloseTo(expectedSum / SIZE, within(sumBound / SIZE));
  }

  @Test
  void ddpmWithAllStepsIsTheTutorialsPSampleStepForStep() {
    checkSteps(SessionOptions.defaults());
  }

  /**
   * The host loop's step, dummy model included, compiled by XLA as {@link
   * SessionOptions#sampling()} does (the trace shows that its arithmetic ran in XLA's cluster, not
   * in TensorFlow's kernels), against the tutorial's p_sample at every one of the 1000 steps.
   */
  @Test
  void ddpmStepUnderXlaIsTheTutorialsPSampleStepForStep() {
    checkSteps(SessionOptions.sampling());
  }

  private static void checkSteps(SessionOptions options) {
    // Host-driven: each step of SamplerStep is fed the graph's own previous x and compared with
    // the tutorial's p_sample on that x and the same z, so rounding does not accumulate and every
    // one of the 1000 steps is held to the one-step tolerance.
    SamplingPlan plan = ParityCases.TUTORIAL_DDPM.plan();
    ReferenceSamplers.Sampler tutorial = ParityCases.TUTORIAL_DDPM.referenceSampler();
    int steps = plan.steps();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 4, 4, 1)));
      Placeholder<TInt32> index = tf.placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
      Operand<TInt64> seeds = tf.constant(SEEDS);
      SamplerStep step = new SamplerStep(tf, plan);
      Operand<TInt32> t = tf.fill(tf.constant(new int[] {SEEDS.length}), step.timestep(index));
      Operand<TFloat32> z =
          RowNoise.normal(
              tf, seeds, tf.dtypes.cast(tf.math.add(index, tf.constant(1)), TInt64.class), IMAGE);
      SamplerStep.Result r =
          step.apply(index, x, ParityCases.dummyModel(tf, x, t), Optional.of(z), Optional.of(x));
      float[] current = RowNoiseTable.rows(1)[0];
      try (Session s = new Session(g, options.toConfigProto())) {
        for (int i = 0; i < steps; i++) {
          float[] next;
          float[] noise;
          int[] timestep;
          try (TFloat32 xValue = TensorIO.floats(Shape.of(SEEDS.length, 4, 4, 1), current);
              TInt32 indexValue = TInt32.scalarOf(i);
              Result out =
                  s.runner()
                      .feed(x, xValue)
                      .feed(index, indexValue)
                      .fetch(r.x())
                      .fetch(z)
                      .fetch(t)
                      .run()) {
            next = TensorIO.toFloats(out.get(0));
            noise = TensorIO.toFloats(out.get(1));
            timestep = TensorIO.toInts(out.get(2));
          }
          int expectedT = steps - 1 - i;
          assertThat(timestep).as("t at step %s", i).containsOnly(expectedT);
          double[] expected = new double[SIZE];
          double[] tolerance = new double[SIZE];
          for (int k = 0; k < SIZE; k++) {
            double eps = ReferenceSamplers.dummyModel(current[k], expectedT);
            expected[k] =
                ReferenceSamplers.pSample(REFERENCE, expectedT, current[k], eps, noise[k]);
            tolerance[k] =
                ROUNDINGS
                    * FLOAT32_UNIT_ROUNDOFF
                    * tutorial.step(i, current[k], eps, noise[k], 0).magnitude();
          }
          ArrayAsserts.assertWithin("p_sample at t = " + expectedT, next, expected, tolerance);
          current = next;
        }
        if (options.xla()) {
          try (TFloat32 xValue = TensorIO.floats(Shape.of(SEEDS.length, 4, 4, 1), current);
              TInt32 indexValue = TInt32.scalarOf(0)) {
            StepProfile trace =
                StepProfile.trace(
                    s, s.runner().feed(x, xValue).feed(index, indexValue).fetch(r.x()));
            assertThat(trace.rows())
                .as("op types run")
                .extracting(StepProfile.Row::opType)
                .contains("_XlaRun")
                .doesNotContain("Mul", "AddV2", "Sub", "RealDiv");
          }
        }
      }
    }
  }

  private static float[] compiled(SamplingPlan plan, SessionOptions options) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // fed, not a constant: Grappler would fold a loop of constants before any runtime saw it
      Placeholder<TInt64> seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      SamplingLoop.Outputs out =
          SamplingLoop.compiled(
              tf,
              plan,
              IMAGE,
              ParityCases.DUMMY,
              Map.<String, Operand<TFloat32>>of(),
              seeds,
              List.of(),
              0);
      try (Session s = new Session(g, options.toConfigProto());
          TInt64 seedValues = TInt64.vectorOf(SEEDS);
          Result r = s.runner().feed(seeds, seedValues).fetch(out.samples()).run()) {
        if (options.xla()) {
          assertThat(
                  StepProfile.trace(s, s.runner().feed(seeds, seedValues).fetch(out.samples()))
                      .rows())
              .as("op types run")
              .extracting(StepProfile.Row::opType)
              .contains("_XlaRun");
        }
        return TensorIO.toFloats(r.get(0));
      }
    }
  }

  /** The graph's per-row noise for {@link #SEEDS}, counter c in row c, computed once. */
  private static final class RowNoiseTable {
    private static final int COUNTERS = ParityCases.TUTORIAL_DDPM.plan().steps() + 1;
    private static final float[][] ROWS = compute();

    static float[][] rows(int count) {
      assertThat(count).isLessThanOrEqualTo(COUNTERS);
      return ROWS;
    }

    private static float[][] compute() {
      float[][] rows = new float[COUNTERS][];
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Placeholder<TInt64> counter =
            tf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
        Operand<TFloat32> z = RowNoise.normal(tf, tf.constant(SEEDS), counter, IMAGE);
        try (Session s = new Session(g)) {
          for (int c = 0; c < COUNTERS; c++) {
            try (TInt64 value = TInt64.scalarOf(c);
                Result r = s.runner().feed(counter, value).fetch(z).run()) {
              rows[c] = TensorIO.toFloats(r.get(0));
            }
          }
        }
      }
      return rows;
    }
  }
}
