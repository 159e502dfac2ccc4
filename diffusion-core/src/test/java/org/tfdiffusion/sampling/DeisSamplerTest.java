package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.sampling.SigmaSamplersTest.SIZE;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceDeis;

/**
 * DEIS against diffusers' tests/schedulers/test_scheduler_deis.py (the published mean of |x| after
 * the full loop on the dummy model {@code sample * t / (t + 1)} from the dummy sample, within
 * diffusers' 1e-3, and the sum and mean after a loop started at a later step from a noised sample,
 * run by the sampler's own compiled loop) and, in the compiled and the host loop, against a
 * plain-Java double re-implementation of diffusers' {@code DEISMultistepScheduler} ({@link
 * ReferenceDeis}, its coefficients by numerical integration) at other settings.
 */
class DeisSamplerTest {
  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** test_scheduler_deis.py's config: order 2, 10 steps, linspace, lower-order final. */
  private static double publishedMean(Prediction prediction) {
    SamplingPlan plan = DeisSampler.of(10).plan(NoiseSchedule.linear(), prediction);
    return SigmaSamplersTest.sumAbs(
            SigmaSamplersTest.loop(plan, SigmaSamplersTest.dummySampleDeter()))
        / SIZE;
  }

  @Test
  void deisTestFullLoopNoNoise() {
    assertThat(publishedMean(EPS)).isCloseTo(0.23916, within(1e-3));
  }

  @Test
  void deisTestFullLoopWithVPrediction() {
    assertThat(publishedMean(V)).isCloseTo(0.091, within(1e-3));
  }

  /**
   * test_full_loop_with_noise: the dummy sample noised by add_noise with diffusers' dummy noise
   * (the sample's values in reverse order) to step 8 of 10 (t = 200), then steps 8 and 9, the loop
   * started at a later step.
   */
  @Test
  void deisTestFullLoopWithNoise() {
    SamplingPlan plan = DeisSampler.of(10).plan(NoiseSchedule.linear(), EPS);
    int start = 8;
    assertThat(plan.timesteps().get(start)).isEqualTo(200);
    double alphaBar = plan.alphasCumprod().get(start);
    double[] sample = SigmaSamplersTest.dummySampleDeter();
    double[] noisy = new double[SIZE];
    for (int k = 0; k < SIZE; k++) {
      long index = Math.round(sample[k] * SIZE);
      double noise = (double) (SIZE - 1 - index) / SIZE;
      noisy[k] = Math.sqrt(alphaBar) * sample[k] + Math.sqrt(1 - alphaBar) * noise;
    }
    float[] x = MultistepSamplersTest.run(plan, start, noisy, false);
    assertThat(SigmaSamplersTest.sumAbs(x)).as("result_sum").isCloseTo(315.3016, within(1e-2));
    assertThat(SigmaSamplersTest.sumAbs(x) / SIZE)
        .as("result_mean")
        .isCloseTo(0.41054, within(1e-3));
  }

  /** One DEIS setting. */
  record Case(String name, DeisSampler sampler, String sigmas, Prediction prediction) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case deis(int steps, int order, String sigmas, boolean lower, Prediction p) {
    DeisSampler sampler =
        new DeisSampler(
            steps,
            order,
            TimestepSpacing.LINSPACE,
            0,
            lower,
            sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas));
    return new Case(
        String.format(
            "deis %d order %d %s%s %s", steps, order, sigmas, lower ? "" : " no lower", p),
        sampler,
        sigmas,
        p);
  }

  static Stream<Case> cases() {
    return Stream.of(
        deis(10, 2, "none", true, EPS),
        deis(10, 3, "none", true, EPS),
        deis(20, 3, "karras", true, V),
        deis(12, 3, "none", false, X0),
        deis(8, 1, "none", true, EPS),
        deis(16, 2, "karras", false, V));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledAndHostLoopsMatchDiffusersSchedulerInPlainJava(Case c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.prediction());
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected =
        ReferenceDeis.run(
            ParityCases.REFERENCE.alphasCumprod,
            c.sampler().steps(),
            c.sampler().order(),
            c.sigmas(),
            c.sampler().lowerOrderFinal(),
            c.prediction(),
            start);
    SigmaSamplersTest.assertClose(
        c + ", compiled loop", MultistepSamplersTest.run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop", MultistepSamplersTest.run(plan, 0, start, true), expected);
  }

  /**
   * With thresholding (diffusers' thresholding=True, ratio 0.87, max 0.5 as its DPM-Solver test
   * uses), ε̂ enters the history derived from the thresholded x̂_0: both loops against the
   * plain-Java scheduler with the same thresholding, at orders 2 and 3, in ε and v prediction.
   */
  @ParameterizedTest(name = "order {0}, {1}")
  @CsvSource({"2, EPSILON", "3, EPSILON", "3, V_PREDICTION"})
  void thresholdingDerivesEpsFromTheThresholdedX0(int order, Prediction prediction) {
    DeisSampler sampler = DeisSampler.of(10).withOrder(order).withGuard(X0Guard.dynamic(0.87, 0.5));
    SamplingPlan plan = sampler.plan(NoiseSchedule.linear(), prediction);
    assertThat(plan.name()).contains("x0=");
    double[] start = SigmaSamplersTest.startNoise();
    double[] plain =
        ReferenceDeis.run(
            ParityCases.REFERENCE.alphasCumprod, 10, order, "none", true, prediction, start);
    double[] expected =
        ReferenceDeis.run(
            ParityCases.REFERENCE.alphasCumprod,
            10,
            order,
            "none",
            true,
            prediction,
            new ReferenceDeis.Thresholding(0.87, 0.5, SigmaSamplersTest.ROWS),
            0,
            start);
    double difference = 0;
    for (int k = 0; k < start.length; k++) {
      difference = Math.max(difference, Math.abs(expected[k] - plain[k]));
    }
    assertThat(difference).as("thresholding changes the result").isGreaterThan(1e-2);
    SigmaSamplersTest.assertClose(
        "thresholded, compiled loop", MultistepSamplersTest.run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(
        "thresholded, host loop", MultistepSamplersTest.run(plan, 0, start, true), expected);
  }

  /**
   * Started at step k, the history starts empty: first order at k, at most second at k + 1, as
   * diffusers' scheduler after {@code set_begin_index(k)}; both loops against the plain-Java one.
   */
  @ParameterizedTest(name = "order {0}, from step {1}")
  @CsvSource({"2, 3", "3, 3", "3, 6"})
  void loopsStartedAtAStepMatchDiffusersSchedulerStartedThere(int order, int k) {
    DeisSampler sampler = DeisSampler.of(12).withOrder(order);
    SamplingPlan plan = sampler.plan(NoiseSchedule.linear(), EPS);
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected =
        ReferenceDeis.run(
            ParityCases.REFERENCE.alphasCumprod, 12, order, "none", true, EPS, null, k, start);
    SigmaSamplersTest.assertClose(
        "deis from step " + k + ", compiled loop",
        MultistepSamplersTest.run(plan, k, start, false),
        expected);
    SigmaSamplersTest.assertClose(
        "deis from step " + k + ", host loop",
        MultistepSamplersTest.run(plan, k, start, true),
        expected);
  }

  @Test
  void deisIsFoundByNameAndRefusesWhatItHasNot() {
    assertThat(SamplerKind.lookup("deis")).isEqualTo(SamplerKind.DEIS);
    assertThat(SamplerKind.DEIS.create(10, 0)).isEqualTo(DeisSampler.of(10));
    assertThat(DeisSampler.of(10).plan(NoiseSchedule.linear(), EPS).history())
        .isEqualTo(SamplingPlan.History.EPS);
    assertThatThrownBy(() -> DeisSampler.of(10).withOrder(4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("DEIS order must be 1, 2 or 3, got 4");
  }
}
