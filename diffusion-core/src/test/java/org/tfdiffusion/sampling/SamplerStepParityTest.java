package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.tfdiffusion.sampling.ParityCases.ROUNDINGS;
import static org.tfdiffusion.testing.ReferenceSamplers.FLOAT32_UNIT_ROUNDOFF;

import java.util.List;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.ReferenceSamplers;

/**
 * One {@link SamplerStep} against the sampler's equation in plain Java ({@link ReferenceSamplers},
 * written from the tutorial, improved-diffusion and diffusers with its own ᾱ): fixed x, z and
 * x̂_0^{prev}, and as the model output either the dummy model ε_θ(x, t) = x · t / (t + 1) evaluated
 * in the graph at the step's own timestep or a fixed array, for the first, second, middle,
 * second-to-last and last step of every setting in {@link ParityCases}.
 *
 * <p>Tolerance: the graph computes in float32 from the same float inputs, so each output is within
 * {@code γ_16 ≈ 16 u} (u = 2^-24) times the absolute-value evaluation of its formula of the exact
 * value (see {@link ParityCases#ROUNDINGS}); that evaluation does not cancel, so it accounts for
 * the cancellation inside x̂_0 = (x - √(1-ᾱ) ε̂)/√ᾱ, which with the dummy model at t = 999
 * magnifies float32 rounding about 2000 times. The errors observed are at most 2.4 u times that
 * evaluation (a margin of about 7), and a wrong coefficient lands far outside: a posterior variance
 * 1e-4 too large, a DDIM t_prev one off, or D1 multiplied by r0 instead of divided each fail every
 * case they touch.
 */
class SamplerStepParityTest {
  private static final Shape IMAGE = Shape.of(4, 4, 1);
  private static final int BATCH = 2;
  private static final int SIZE = BATCH * 4 * 4;

  /** x spread beyond [-1, 1] so that clipping x̂_0 both bites and leaves values alone. */
  private static final float X_SCALE = 3f;

  private static final float[] X = scaled(GraphRunner.gaussian(1, SIZE), X_SCALE);
  private static final float[] NOISE = GraphRunner.gaussian(2, SIZE);
  private static final float[] X0_PREV = GraphRunner.gaussian(3, SIZE);
  private static final float[] OUTPUT = GraphRunner.gaussian(4, SIZE);

  static Stream<ParityCases.Case> cases() {
    return Stream.concat(Stream.of(ParityCases.TUTORIAL_DDPM), ParityCases.all().stream());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void stepWithTheDummyModelMatchesTheEquation(ParityCases.Case c) {
    check(c, true);
  }

  /**
   * A fixed model output unrelated to x, so that no term can stand in for another (with the dummy
   * model ε̂ = x · t/(t + 1) is nearly x at large t).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void stepWithAFixedModelOutputMatchesTheEquation(ParityCases.Case c) {
    check(c, false);
  }

  private static void check(ParityCases.Case c, boolean dummy) {
    SamplingPlan plan = c.plan();
    ReferenceSamplers.Sampler reference = c.referenceSampler();
    int n = plan.steps();
    assertThat(plan.timesteps().toArray()).containsExactly(reference.timesteps());
    SortedSet<Integer> indices = new TreeSet<>(List.of(0, 1, n / 2, n - 2, n - 1));
    int clipped = 0;
    for (int i : indices) {
      if (i < 0 || i >= n) {
        continue;
      }
      List<GraphRunner.Fetched> out = runStep(plan, i, dummy);
      int t = reference.timesteps()[i];
      assertThat(out.get(2).ints()).as("%s: t at step %s", c, i).containsOnly(t);
      double[] expectedX = new double[SIZE];
      double[] expectedX0 = new double[SIZE];
      double[] toleranceX = new double[SIZE];
      double[] toleranceX0 = new double[SIZE];
      for (int k = 0; k < SIZE; k++) {
        double output = dummy ? ReferenceSamplers.dummyModel(X[k], t) : OUTPUT[k];
        ReferenceSamplers.Update u = reference.step(i, X[k], output, NOISE[k], X0_PREV[k]);
        expectedX[k] = u.x();
        expectedX0[k] = u.x0();
        toleranceX[k] = ROUNDINGS * FLOAT32_UNIT_ROUNDOFF * u.magnitude();
        toleranceX0[k] = ROUNDINGS * FLOAT32_UNIT_ROUNDOFF * u.x0Magnitude();
        if (c.clips() && Math.abs(u.x0()) == plan.x0Guard().range()) {
          clipped++;
        }
      }
      ArrayAsserts.assertWithin(
          c + ": x at step " + i + " (t = " + t + ")", out.get(0).values(), expectedX, toleranceX);
      ArrayAsserts.assertWithin(
          c + ": x0 at step " + i + " (t = " + t + ")",
          out.get(1).values(),
          expectedX0,
          toleranceX0);
    }
    if (c.clips()) {
      assertThat(clipped).as("%s: some x0 was clipped", c).isPositive();
    }
  }

  /**
   * Step i of the plan on the fixed inputs, the model output from the dummy model or {@link
   * #OUTPUT}: fetches x_{i+1}, x̂_0 and the model's t.
   */
  private static List<GraphRunner.Fetched> runStep(SamplingPlan plan, int i, boolean dummy) {
    return GraphRunner.fetchAll(
        tf -> {
          SamplerStep step = new SamplerStep(tf, plan);
          Operand<TInt32> index = tf.constant(i);
          Operand<TFloat32> x = batch(tf, X);
          Operand<TInt32> t = tf.fill(tf.constant(new int[] {BATCH}), step.timestep(index));
          Operand<TFloat32> output = dummy ? ParityCases.dummyModel(tf, x, t) : batch(tf, OUTPUT);
          SamplerStep.Result r =
              step.apply(
                  index, x, output, Optional.of(batch(tf, NOISE)), Optional.of(batch(tf, X0_PREV)));
          return List.of(r.x(), r.x0(), t);
        });
  }

  private static Operand<TFloat32> batch(Ops tf, float[] values) {
    return tf.reshape(
        tf.constant(values),
        tf.constant(
            new int[] {BATCH, (int) IMAGE.size(0), (int) IMAGE.size(1), (int) IMAGE.size(2)}));
  }

  private static float[] scaled(float[] values, float scale) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i] * scale;
    }
    return out;
  }
}
