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
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.sampling.UniPcSampler.Variant;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceMultistepSchedulers;
import org.tfdiffusion.testing.ReferenceMultistepSchedulers.UniPcConfig;

/**
 * UniPC against diffusers' tests/schedulers/test_scheduler_unipc.py (the published mean of |x|
 * after the full loop on the dummy model {@code sample * t / (t + 1)} from the dummy sample, within
 * diffusers' 1e-3) and, in the compiled and the host loop, against a plain-Java double
 * re-implementation of diffusers' {@code UniPCMultistepScheduler} ({@link
 * ReferenceMultistepSchedulers#uniPc}) at other settings and started at a later step.
 */
class UniPcSamplerTest {
  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** test_scheduler_unipc.py's config: order 2, bh2, final σ = σ_min, 10 steps. */
  private static double publishedMean(SigmaSpacing sigmas, Prediction prediction) {
    UniPcSampler sampler =
        new UniPcSampler(
            10,
            2,
            Variant.BH2,
            TimestepSpacing.LINSPACE,
            0,
            true,
            FinalSigma.SIGMA_MIN,
            sigmas,
            X0Guard.none());
    SamplingPlan plan = sampler.plan(NoiseSchedule.linear(), prediction);
    float[] x = SigmaSamplersTest.loop(plan, SigmaSamplersTest.dummySampleDeter());
    return SigmaSamplersTest.sumAbs(x) / SIZE;
  }

  @Test
  void uniPcTestFullLoopNoNoise() {
    assertThat(publishedMean(SigmaSpacing.TIMESTEPS, EPS)).isCloseTo(0.2464, within(1e-3));
  }

  @Test
  void uniPcTestFullLoopWithKarras() {
    assertThat(publishedMean(SigmaSpacing.KARRAS, EPS)).isCloseTo(0.2925, within(1e-3));
  }

  @Test
  void uniPcTestFullLoopWithVPrediction() {
    assertThat(publishedMean(SigmaSpacing.TIMESTEPS, V)).isCloseTo(0.1014, within(1e-3));
  }

  @Test
  void uniPcTestFullLoopWithKarrasAndVPrediction() {
    assertThat(publishedMean(SigmaSpacing.KARRAS, V)).isCloseTo(0.1966, within(1e-3));
  }

  /** One UniPC setting and its reference config. */
  record Case(String name, UniPcSampler sampler, UniPcConfig reference) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case uniPc(
      int steps,
      int order,
      Variant variant,
      String sigmas,
      boolean lowerOrderFinal,
      FinalSigma finalSigma,
      Prediction prediction) {
    UniPcSampler sampler =
        new UniPcSampler(
            steps,
            order,
            variant,
            TimestepSpacing.LINSPACE,
            0,
            lowerOrderFinal,
            finalSigma,
            sigmas.equals("none") ? SigmaSpacing.TIMESTEPS : SigmaSpacing.lookup(sigmas),
            X0Guard.none());
    UniPcConfig reference =
        new UniPcConfig(
            steps,
            order,
            variant == Variant.BH2,
            sigmas,
            lowerOrderFinal,
            finalSigma == FinalSigma.ZERO,
            prediction,
            0);
    String name =
        String.format(
            "unipc %s order %d, %d steps, %s, %s%s, %s",
            variant.configName(),
            order,
            steps,
            sigmas,
            finalSigma,
            lowerOrderFinal ? "" : ", no lower-order final",
            prediction);
    return new Case(name, sampler, reference);
  }

  static Stream<Case> cases() {
    return Stream.of(
        uniPc(12, 2, Variant.BH1, "none", true, FinalSigma.ZERO, EPS),
        uniPc(10, 1, Variant.BH2, "none", true, FinalSigma.SIGMA_MIN, V),
        uniPc(8, 2, Variant.BH2, "karras", false, FinalSigma.SIGMA_MIN, X0),
        uniPc(15, 2, Variant.BH1, "karras", true, FinalSigma.ZERO, V),
        uniPc(20, 2, Variant.BH2, "none", true, FinalSigma.ZERO, EPS),
        uniPc(10, 3, Variant.BH2, "none", true, FinalSigma.ZERO, EPS),
        uniPc(12, 3, Variant.BH1, "karras", true, FinalSigma.SIGMA_MIN, V),
        uniPc(16, 3, Variant.BH2, "none", false, FinalSigma.SIGMA_MIN, X0),
        uniPc(25, 3, Variant.BH1, "none", true, FinalSigma.ZERO, EPS));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compiledAndHostLoopsMatchDiffusersSchedulerInPlainJava(Case c) {
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), c.reference().prediction());
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected =
        ReferenceMultistepSchedulers.uniPc(
            ParityCases.REFERENCE.alphasCumprod, c.reference(), start);
    SigmaSamplersTest.assertClose(
        c + ", compiled loop", MultistepSamplersTest.run(plan, 0, start, false), expected);
    SigmaSamplersTest.assertClose(
        c + ", host loop", MultistepSamplersTest.run(plan, 0, start, true), expected);
  }

  /**
   * Started at step k, the first step has no correction and a first-order predictor, the second a
   * first-order correction, as diffusers' scheduler after {@code set_begin_index(k)}.
   */
  @ParameterizedTest(name = "order {0}, from step {1}")
  @CsvSource({"2, 3", "3, 3", "3, 5", "3, 9"})
  void loopsStartedAtAStepMatchDiffusersSchedulerStartedThere(int order, int k) {
    Case c = uniPc(12, order, Variant.BH2, "none", true, FinalSigma.ZERO, EPS);
    UniPcConfig r = c.reference();
    UniPcConfig fromK =
        new UniPcConfig(
            r.steps(),
            r.order(),
            r.bh2(),
            r.sigmas(),
            r.lowerOrderFinal(),
            r.finalSigmaZero(),
            r.prediction(),
            k);
    SamplingPlan plan = c.sampler().plan(NoiseSchedule.linear(), r.prediction());
    double[] start = SigmaSamplersTest.startNoise();
    double[] expected =
        ReferenceMultistepSchedulers.uniPc(ParityCases.REFERENCE.alphasCumprod, fromK, start);
    SigmaSamplersTest.assertClose(
        "unipc from step " + k + ", compiled loop",
        MultistepSamplersTest.run(plan, k, start, false),
        expected);
    SigmaSamplersTest.assertClose(
        "unipc from step " + k + ", host loop",
        MultistepSamplersTest.run(plan, k, start, true),
        expected);
  }

  @Test
  void uniPcIsFoundByNameAndRefusesWhatItHasNot() {
    assertThat(SamplerKind.lookup("UniPC")).isEqualTo(SamplerKind.UNIPC);
    assertThat(SamplerKind.UNIPC.create(10, 0)).isEqualTo(UniPcSampler.of(10));
    assertThat(Variant.lookup("bh1")).isEqualTo(Variant.BH1);
    assertThatThrownBy(() -> Variant.lookup("bh3"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown UniPC variant 'bh3'; valid: bh1, bh2");
    assertThatThrownBy(
            () ->
                new UniPcSampler(
                    10,
                    4,
                    Variant.BH2,
                    TimestepSpacing.LINSPACE,
                    0,
                    true,
                    FinalSigma.ZERO,
                    SigmaSpacing.TIMESTEPS,
                    X0Guard.none()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("UniPC order must be 1, 2 or 3, got 4");
    SamplingPlan plan = UniPcSampler.of(10).plan(NoiseSchedule.linear(), EPS);
    assertThat(plan.deepHistory()).as("the order-2 correction uses m_{i-2}").isTrue();
    assertThat(plan.name()).startsWith("unipc(steps=10, order=2, variant=bh2");
  }
}
