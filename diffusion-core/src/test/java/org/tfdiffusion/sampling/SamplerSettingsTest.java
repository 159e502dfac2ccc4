package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.schedule.NoiseSchedule;

/** Refusal of settings that do not fit, with messages that say what was given and what fits. */
class SamplerSettingsTest {
  private static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();

  @Test
  void moreStepsThanTrainingTimestepsAreRefusedNamingBothNumbers() {
    assertThatThrownBy(() -> DdpmSampler.of(1001).plan(SCHEDULE, Prediction.EPSILON))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1001")
        .hasMessageContaining("1000");
    assertThatThrownBy(() -> DdimSampler.of(1001, 0).plan(SCHEDULE, Prediction.EPSILON))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1001")
        .hasMessageContaining("1000");
    assertThatThrownBy(() -> DpmSolverPlusPlusSampler.of(1001).plan(SCHEDULE, Prediction.EPSILON))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1001")
        .hasMessageContaining("1000");
    for (TimestepSpacing spacing : TimestepSpacing.values()) {
      assertThatThrownBy(() -> spacing.timesteps(1000, 1001, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("1001")
          .hasMessageContaining("1000");
    }
  }

  @Test
  void fewerThanOneStepIsRefused() {
    // the samplers refuse it when built, before any schedule (and so T) is known
    assertThatThrownBy(() -> DdpmSampler.of(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 1 step, got 0");
    assertThatThrownBy(() -> DdimSampler.of(-3, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 1 step, got -3");
    assertThatThrownBy(() -> DpmSolverPlusPlusSampler.of(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 1 step, got 0");
    // where T is known, both numbers are named
    assertThatThrownBy(() -> DdpmSampler.respacedTimesteps(1000, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("(0)")
        .hasMessageContaining("[1, 1000]");
    for (TimestepSpacing spacing : TimestepSpacing.values()) {
      assertThatThrownBy(() -> spacing.timesteps(1000, 0, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("(0)")
          .hasMessageContaining("[1, 1000]");
    }
  }

  @Test
  void ddimEtaOutsideZeroToOneIsRefused() {
    for (double eta : new double[] {-0.1, 1.5, Double.NaN}) {
      assertThatThrownBy(() -> DdimSampler.of(10, eta))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("eta must be in [0, 1], got " + eta);
    }
    assertThat(DdimSampler.of(10, 0).eta()).isZero();
    assertThat(DdimSampler.of(10, 1).eta()).isEqualTo(1);
  }

  @Test
  void dpmSolverOrderOutsideOneToThreeIsRefused() {
    for (int order : new int[] {0, 4}) {
      assertThatThrownBy(
              () ->
                  new DpmSolverPlusPlusSampler(
                      10, order, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("order must be 1, 2 or 3, got " + order);
    }
  }

  @Test
  void leadingOffsetPastTheLastTimestepIsRefused() {
    // 1000 steps of leading spacing with offset 1 would visit t = 1000, which does not exist
    assertThatThrownBy(() -> TimestepSpacing.LEADING.timesteps(1000, 1000, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("timestep 1000 outside [0, 1000)");
  }

  @Test
  void unknownSamplerNamesListTheValidOnes() {
    assertThatThrownBy(() -> SamplerKind.lookup("lcm"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'lcm'")
        .hasMessageContaining(
            "ddpm, ddim, dpmpp, dpmpp-sde, dpm-solver, unipc, euler, euler-ancestral, heun, lms, pndm, deis");
    assertThatThrownBy(() -> SamplerKind.lookup(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("ddpm, ddim, dpmpp");
    assertThat(SamplerKind.lookup(" DPM-Solver++ ")).isEqualTo(SamplerKind.DPMPP);
    assertThat(SamplerKind.lookup("dpm++")).isEqualTo(SamplerKind.DPMPP);
    assertThat(SamplerKind.lookup("DDIM")).isEqualTo(SamplerKind.DDIM);
  }

  @Test
  void unknownSpacingNamesListTheValidOnes() {
    assertThatThrownBy(() -> TimestepSpacing.lookup("karras"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'karras'")
        .hasMessageContaining("linspace, leading, trailing");
    assertThatThrownBy(() -> TimestepSpacing.lookup(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("linspace, leading, trailing");
    assertThat(TimestepSpacing.lookup("Trailing")).isEqualTo(TimestepSpacing.TRAILING);
  }

  @Test
  void samplerKindsCreateDiffusersDefaultsExceptDdimsClipping() {
    assertThat(SamplerKind.DDPM.create(50, 0.3)).isEqualTo(DdpmSampler.of(50));
    // diffusers clips DDIM's x0 at 1 by default; with guidance that ruined samples (README)
    assertThat(SamplerKind.DDIM.create(50, 0.3))
        .isEqualTo(new DdimSampler(50, 0.3, TimestepSpacing.LEADING, 0, true, 0));
    assertThat(SamplerKind.DPMPP.create(20, 0))
        .isEqualTo(
            new DpmSolverPlusPlusSampler(
                20, 2, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO));
  }
}
