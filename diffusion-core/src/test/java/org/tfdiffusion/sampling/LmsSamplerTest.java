package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.sampling.SigmaSamplersTest.SIZE;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers.Drive;
import org.tfdiffusion.testing.ReferenceSigmaSchedulers.Levels;

/**
 * LMS against diffusers' tests/schedulers/test_scheduler_lms.py (the published sums and means of
 * |x| after the full loop on the dummy model {@code sample * t / (t + 1)} from the dummy sample,
 * within diffusers' tolerances) and, in the compiled and the host loop, against a plain-Java double
 * re-implementation of diffusers' {@code LMSDiscreteScheduler} ({@link
 * ReferenceSigmaSchedulers#lms}, its coefficients by Simpson's rule on the Lagrange basis in
 * product form) at other settings and started at a later step.
 *
 * <p>As for Euler ({@link SigmaSamplersTest}), the published numbers come from diffusers' test
 * loop, which shows the model fractional timesteps and hands {@code step} the input-scaled sample;
 * the reference reproduces them driven that way, and the sampler is held to the same reference
 * driven as a pipeline with an integer-timestep model.
 */
class LmsSamplerTest {
  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** test_scheduler_lms.py's config: T = 1100, linear β from 1e-4 to 0.02. */
  private static final int TEST_TRAIN_STEPS = 1100;

  private static final double TEST_BETA_START = 0.0001;
  private static final double TEST_BETA_END = 0.02;

  /**
   * diffusers' ᾱ as its scheduler computes it: float32 β ({@code torch.linspace(..., dtype=
   * torch.float32)}) and their cumulative product in float32 ({@code torch.cumprod}). At T = 1100
   * the float32 product moves the largest σ by 1e-5 relative, which the Karras test's sum sees
   * (3813.023 from double ᾱ against the published 3812.9927).
   */
  static double[] float32AlphasCumprod() {
    double[] alphasCumprod = new double[TEST_TRAIN_STEPS];
    float product = 1;
    for (int t = 0; t < TEST_TRAIN_STEPS; t++) {
      float beta =
          (float)
              (TEST_BETA_START + (TEST_BETA_END - TEST_BETA_START) * t / (TEST_TRAIN_STEPS - 1));
      product *= 1 - beta;
      alphasCumprod[t] = product;
    }
    return alphasCumprod;
  }

  /** The full loop of test_scheduler_lms.py: 10 steps, order 4, linspace spacing. */
  private static double[] diffusersTest(Prediction prediction, String sigmas) {
    double[] alphasCumprod = float32AlphasCumprod();
    Levels levels =
        ReferenceSigmaSchedulers.levels(alphasCumprod, 10, "linspace", 0, sigmas, false);
    return ReferenceSigmaSchedulers.lms(
        levels,
        LmsSampler.DEFAULT_ORDER,
        prediction,
        Drive.DIFFUSERS_TEST,
        "linspace",
        SigmaSamplersTest.dummySampleDeter(),
        0);
  }

  private static void assertPublished(double[] x, double sum, double sumTolerance, double mean) {
    double sumAbs = SigmaSamplersTest.sumAbs(x);
    assertThat(sumAbs).as("result_sum").isCloseTo(sum, within(sumTolerance));
    assertThat(sumAbs / SIZE).as("result_mean").isCloseTo(mean, within(1e-3));
  }

  @Test
  void lmsTestFullLoopNoNoise() {
    assertPublished(diffusersTest(EPS, "none"), 1006.388, 1e-2, 1.31);
  }

  @Test
  void lmsTestFullLoopWithVPrediction() {
    assertPublished(diffusersTest(V, "none"), 0.0017, 1e-2, 2.2676e-06);
  }

  @Test
  void lmsTestFullLoopDeviceKarrasSigmas() {
    assertPublished(diffusersTest(EPS, "karras"), 3812.9927, 2e-2, 4.9648);
  }

  /** One LMS setting. */
  record Case(
      String name, LmsSampler sampler, Prediction prediction, String spacing, String sigmas) {
    @Override
    public String toString() {
      return name;
    }

    double[] reference(double[] start, int from) {
      Levels levels =
          ReferenceSigmaSchedulers.levels(
              ParityCases.REFERENCE.alphasCumprod,
              sampler.steps(),
              spacing,
              sampler.stepsOffset(),
              sigmas,
              true);
      return ReferenceSigmaSchedulers.lms(
          levels, sampler.order(), prediction, Drive.PIPELINE, spacing, start, from);
    }
  }

  private static Case lms(
      int steps, int order, String spacing, int offset, String sigmas, Prediction prediction) {
    LmsSampler sampler =
        new LmsSampler(
            steps,
            order,
            TimestepSpacing.lookup(spacing),
            offset,
            sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas));
    String name =
        String.format(
            "lms %d order %d %s%s %s %s",
            steps, order, spacing, offset > 0 ? " offset " + offset : "", sigmas, prediction);
    return new Case(name, sampler, prediction, spacing, sigmas);
  }

  static Stream<Case> cases() {
    return Stream.of(
        lms(10, 4, "linspace", 0, "none", EPS),
        lms(10, 4, "linspace", 0, "none", V),
        lms(12, 4, "leading", 1, "karras", V),
        lms(7, 3, "trailing", 0, "exponential", X0),
        lms(20, 2, "linspace", 0, "none", EPS),
        lms(25, 4, "linspace", 0, "karras", EPS));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledAndHostLoopsMatchDiffusersSchedulerInPlainJava(Case c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.prediction());
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected = c.reference(start, 0);
    SigmaSamplersTest.assertClose(
        c + ", compiled loop", MultistepSamplersTest.run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop", MultistepSamplersTest.run(plan, 0, start, true), expected);
  }

  /**
   * A loop started at step k takes its first three steps at orders 1, 2 and 3, as the scheduler
   * does whose derivatives start there.
   */
  @Test
  void loopsStartedAtAStepRaiseTheOrderFromOne() {
    Case c = lms(12, 4, "linspace", 0, "none", EPS);
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.prediction());
    int k = 4;
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected = c.reference(start, k);
    SigmaSamplersTest.assertClose(
        c + ", compiled loop from step " + k,
        MultistepSamplersTest.run(plan, k, start, false),
        expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop from step " + k,
        MultistepSamplersTest.run(plan, k, start, true),
        expected);
    SamplingPlan cut = plan.startingAt(k);
    assertThat(cut.x0Delta3Coef().get(2)).as("no m_{i-3} at the cut's third step").isZero();
    assertThat(cut.x0Delta3Coef().get(3)).isEqualTo(plan.x0Delta3Coef().get(k + 3)).isNotZero();
  }

  @Test
  void fourthOrderStepsUseThreeEarlierDerivatives() {
    SamplingPlan plan = LmsSampler.of(10).plan(NoiseSchedule.linear(), EPS);
    for (int i = 0; i < 10; i++) {
      assertThat(plan.x0DeltaCoef().get(i) != 0).as("d at step %s", i).isEqualTo(i >= 1);
      assertThat(plan.x0Delta2Coef().get(i) != 0).as("e at step %s", i).isEqualTo(i >= 2);
      assertThat(plan.x0Delta3Coef().get(i) != 0).as("f at step %s", i).isEqualTo(i >= 3);
    }
    assertThat(plan.deeperHistory()).isTrue();
    assertThat(plan.history()).isEqualTo(SamplingPlan.History.EPS);
    assertThat(LmsSampler.of(10).withOrder(3).plan(NoiseSchedule.linear(), EPS).deeperHistory())
        .as("order 3 keeps two earlier derivatives")
        .isFalse();
  }

  @Test
  void lmsIsFoundByNameAndRefusesWhatItHasNot() {
    assertThat(SamplerKind.lookup("lms")).isEqualTo(SamplerKind.LMS);
    assertThat(SamplerKind.lookup("k-lms")).isEqualTo(SamplerKind.LMS);
    assertThat(SamplerKind.LMS.create(10, 0)).isEqualTo(LmsSampler.of(10));
    assertThat(LmsSampler.of(10).order()).isEqualTo(4);
    assertThat(LmsSampler.of(10).plan(NoiseSchedule.linear(), EPS).name())
        .isEqualTo("lms(steps=10, order=4, spacing=linspace, sigmas=timesteps)");
    assertThatThrownBy(() -> LmsSampler.of(10).withOrder(5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("LMS order must be in [1, 4], got 5");
  }
}
