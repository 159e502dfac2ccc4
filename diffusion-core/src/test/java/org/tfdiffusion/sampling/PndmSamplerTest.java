package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.sampling.SigmaSamplersTest.SIZE;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferencePndm;
import org.tfdiffusion.testing.ReferencePndm.Config;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * PNDM against diffusers' tests/schedulers/test_scheduler_pndm.py and, in the compiled and the host
 * loop, against a plain-Java double re-implementation of diffusers' {@code PNDMScheduler} ({@link
 * ReferencePndm}) with {@code skip_prk_steps=True} at other settings and started at a later step.
 *
 * <p>diffusers' published full-loop numbers (sums and means of |x| on the dummy model {@code sample
 * * t / (t + 1)} from the dummy sample) run the default {@code skip_prk_steps=False}: its
 * Runge-Kutta warm-up, which {@link PndmSampler} does not offer. The reference reproduces them with
 * the warm-up, and its PLMS steps, the same code, are what the sampler is held to.
 */
class PndmSamplerTest {
  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** test_scheduler_pndm.py's full_loop: T = 1000, linear β to 0.02, 10 steps, leading. */
  private static double[] diffusersTest(double betaStart, boolean setAlphaToOne, Prediction p) {
    double[] alphasCumprod =
        ReferenceSchedule.of(BetaSchedule.LINEAR, 1000, betaStart, 0.02).alphasCumprod;
    Config c = new Config(10, "leading", 0, false, setAlphaToOne, p, false, 0);
    return ReferencePndm.fullLoop(alphasCumprod, c, SigmaSamplersTest.dummySampleDeter());
  }

  private static void assertPublished(double[] x, double sum, double mean) {
    double sumAbs = SigmaSamplersTest.sumAbs(x);
    assertThat(sumAbs).as("result_sum").isCloseTo(sum, within(1e-2));
    assertThat(sumAbs / SIZE).as("result_mean").isCloseTo(mean, within(1e-3));
  }

  @Test
  void pndmTestFullLoopNoNoise() {
    assertPublished(diffusersTest(0.0001, false, EPS), 198.1318, 0.2580);
  }

  @Test
  void pndmTestFullLoopWithVPrediction() {
    assertPublished(diffusersTest(0.0001, false, V), 67.3986, 0.0878);
  }

  @Test
  void pndmTestFullLoopWithSetAlphaToOne() {
    assertPublished(diffusersTest(0.01, true, EPS), 230.0399, 0.2995);
  }

  @Test
  void pndmTestFullLoopWithNoSetAlphaToOne() {
    assertPublished(diffusersTest(0.01, false, EPS), 186.9482, 0.2434);
  }

  /** test_steps_offset's list (with the warm-up), and the same schedule without it. */
  @Test
  void timestepsAreDiffusers() {
    Config prk = new Config(10, "leading", 1, false, false, EPS, false, 0);
    assertThat(ReferencePndm.timesteps(1000, prk))
        .containsExactly(
            901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201,
            101, 1);
    Config plms = new Config(10, "leading", 1, true, false, EPS, false, 0);
    long[] expected = ReferencePndm.timesteps(1000, plms);
    int[] actual =
        new PndmSampler(10, TimestepSpacing.LEADING, 1, false)
            .plan(NoiseSchedule.linear(), EPS)
            .timesteps()
            .toArray();
    assertThat(actual).hasSize(11);
    for (int i = 0; i < expected.length; i++) {
      assertThat((long) actual[i]).as("evaluation %s", i).isEqualTo(expected[i]);
    }
    assertThat(actual).startsWith(901, 801, 801, 701).endsWith(101, 1);
  }

  /** One PNDM setting. */
  record Case(String name, PndmSampler sampler, Prediction prediction) {
    @Override
    public String toString() {
      return name;
    }

    double[] reference(double[] start, int from) {
      Config c =
          new Config(
              sampler.steps(),
              sampler.spacing().configName(),
              sampler.stepsOffset(),
              true,
              sampler.finalAlphaOne(),
              prediction,
              true,
              from);
      return ReferencePndm.fullLoop(ParityCases.REFERENCE.alphasCumprod, c, start);
    }
  }

  private static Case pndm(
      int steps, String spacing, int offset, boolean alphaOne, Prediction prediction) {
    PndmSampler sampler = new PndmSampler(steps, TimestepSpacing.lookup(spacing), offset, alphaOne);
    String name =
        String.format(
            "pndm %d %s%s%s %s",
            steps,
            spacing,
            offset > 0 ? " offset " + offset : "",
            alphaOne ? " alpha 1" : "",
            prediction);
    return new Case(name, sampler, prediction);
  }

  static Stream<Case> cases() {
    return Stream.of(
        pndm(10, "leading", 1, false, EPS),
        pndm(10, "leading", 0, true, V),
        pndm(25, "linspace", 0, false, EPS),
        pndm(7, "trailing", 0, false, X0),
        pndm(4, "leading", 1, false, EPS),
        pndm(2, "leading", 0, false, EPS),
        pndm(1, "leading", 0, false, EPS));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledAndHostLoopsMatchDiffusersSchedulerInPlainJava(Case c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.prediction());
    assertThat(plan.steps()).isEqualTo(c.sampler().evaluations());
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected = c.reference(start, 0);
    SigmaSamplersTest.assertClose(
        c + ", compiled loop", MultistepSamplersTest.run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop", MultistepSamplersTest.run(plan, 0, start, true), expected);
  }

  /** A loop started at step k takes the Adams-Bashforth orders 1, 2, 3, then 4. */
  @Test
  void loopsStartedAtAStepRaiseTheOrderFromOne() {
    Case c = pndm(12, "leading", 1, false, EPS);
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
  }

  @Test
  void theHeunStepKeepsTheFirstOutputForTheLaterSteps() {
    SamplingPlan plan = PndmSampler.of(10).plan(NoiseSchedule.linear(), EPS);
    assertThat(plan.keepsHistory().toArray()).containsExactly(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    assertThat(plan.x0Delta3Coef().get(4)).as("e_0 three outputs back at step 4").isNotZero();
    assertThat(SamplerKind.lookup("plms")).isEqualTo(SamplerKind.PNDM);
    assertThat(SamplerKind.PNDM.create(10, 0)).isEqualTo(PndmSampler.of(10));
  }
}
