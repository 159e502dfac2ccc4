package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DeisSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.DpmSolverSampler;
import org.tfdiffusion.sampling.EulerAncestralSampler;
import org.tfdiffusion.sampling.EulerSampler;
import org.tfdiffusion.sampling.HeunSampler;
import org.tfdiffusion.sampling.LmsSampler;
import org.tfdiffusion.sampling.PndmSampler;
import org.tfdiffusion.sampling.SigmaSpacing;
import org.tfdiffusion.sampling.TimestepSpacing;
import org.tfdiffusion.sampling.UniPcSampler;
import org.tfdiffusion.sampling.X0Guard;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code --sampler} and its options as {@code sample} and {@code export} parse them. */
class SamplerOptionsTest {
  @Command(name = "probe")
  static final class Probe {
    @Mixin SamplerOptions options;
  }

  private static SamplerOptions parse(String... args) {
    Probe probe = new Probe();
    new CommandLine(probe).parseArgs(args);
    return probe.options;
  }

  @Test
  void eulerHeunAndTheSdeSolverAreBuiltWithTheirOptions() {
    assertThat(parse("--sampler", "euler", "--sigmas", "karras").build(1000))
        .isEqualTo(new EulerSampler(20, TimestepSpacing.LINSPACE, 0, SigmaSpacing.KARRAS));
    assertThat(parse("--sampler", "euler-a", "--spacing", "trailing", "--steps", "7").build(1000))
        .isEqualTo(
            new EulerAncestralSampler(7, TimestepSpacing.TRAILING, 0, SigmaSpacing.TIMESTEPS));
    assertThat(parse("--sampler", "heun").build(1000)).isEqualTo(HeunSampler.of(10));
    DpmSolverPlusPlusSampler sde =
        (DpmSolverPlusPlusSampler)
            parse(
                    "--sampler",
                    "dpmpp-sde",
                    "--sigmas",
                    "lu",
                    "--final-sigma",
                    "sigma_min",
                    "--lower-order-final",
                    "false",
                    "--euler-at-final",
                    "true")
                .build(1000);
    assertThat(sde.sde()).isTrue();
    assertThat(sde.sigmaSpacing()).isEqualTo(SigmaSpacing.EXPONENTIAL);
    assertThat(sde.finalSigma()).isEqualTo(DpmSolverPlusPlusSampler.FinalSigma.SIGMA_MIN);
    assertThat(sde.lowerOrderFinal()).isFalse();
    assertThat(sde.eulerAtFinal()).isTrue();
  }

  @Test
  void theDefaultDpmSolverIsUnchanged() {
    assertThat(parse().build(1000)).isEqualTo(DpmSolverPlusPlusSampler.of(20));
  }

  @Test
  void badNamesAndGuardsOnSamplersWithoutOneAreRefused() {
    assertThatThrownBy(() -> parse("--sampler", "euler", "--x0-guard", "clip").build(1000))
        .hasMessageContaining("euler does not guard x0");
    assertThatThrownBy(() -> parse("--sampler", "heun", "--sigmas", "polyexponential").build(1000))
        .hasMessageContaining("valid: timesteps, karras, exponential");
    assertThatThrownBy(() -> parse("--final-sigma", "one").build(1000))
        .hasMessageContaining("valid: zero, sigma_min");
  }

  @Test
  void multistepSolversTakeTheirOrderAndUniPcItsVariant() {
    assertThat(parse("--order", "3").build(1000))
        .isEqualTo(
            new DpmSolverPlusPlusSampler(
                20,
                3,
                TimestepSpacing.LINSPACE,
                0,
                true,
                DpmSolverPlusPlusSampler.FinalSigma.ZERO,
                X0Guard.none(),
                SigmaSpacing.TIMESTEPS,
                false,
                false));
    assertThat(parse("--sampler", "dpm-solver", "--order", "3", "--steps", "12").build(1000))
        .isEqualTo(DpmSolverSampler.of(12).withOrder(3));
    assertThat(parse("--sampler", "unipc").build(1000)).isEqualTo(UniPcSampler.of(20));
    assertThat(parse("--sampler", "unipc", "--unipc-variant", "bh1", "--order", "1").build(1000))
        .extracting(s -> ((UniPcSampler) s).variant(), s -> ((UniPcSampler) s).order())
        .containsExactly(UniPcSampler.Variant.BH1, 1);
  }

  @Test
  void pndmTakesDiffusersDefaultsLeadingAndTheFirstAlphaBar() {
    assertThat(parse("--sampler", "pndm").build(1000)).isEqualTo(PndmSampler.of(20));
    assertThat(
            parse("--sampler", "plms", "--steps-offset", "1", "--final-alpha", "one").build(1000))
        .isEqualTo(new PndmSampler(20, TimestepSpacing.LEADING, 1, true));
    assertThat(parse("--sampler", "ddim").build(1000))
        .as("DDIM keeps its final alpha of one")
        .extracting(s -> ((DdimSampler) s).finalAlphaOne())
        .isEqualTo(true);
    assertThatThrownBy(() -> parse("--sampler", "pndm", "--sigmas", "karras").build(1000))
        .hasMessage("--sigmas karras: pndm steps between the spacing's timesteps");
  }

  @Test
  void lmsTakesOrderFourUnlessToldAndItsSigmas() {
    assertThat(parse("--sampler", "lms").build(1000)).isEqualTo(LmsSampler.of(20));
    assertThat(parse("--sampler", "lms", "--order", "2", "--sigmas", "karras").build(1000))
        .isEqualTo(new LmsSampler(20, 2, TimestepSpacing.LINSPACE, 0, SigmaSpacing.KARRAS));
    assertThat(parse("--sampler", "dpmpp").build(1000))
        .as("the other multistep solvers keep order 2")
        .isEqualTo(DpmSolverPlusPlusSampler.of(20));
  }

  @Test
  void deisTakesDiffusersDefaultsAndItsOrderSigmasAndLowerOrderFinal() {
    assertThat(parse("--sampler", "deis").build(1000)).isEqualTo(DeisSampler.of(20));
    assertThat(
            parse(
                    "--sampler",
                    "deis",
                    "--order",
                    "3",
                    "--sigmas",
                    "karras",
                    "--lower-order-final",
                    "false",
                    "--steps",
                    "12")
                .build(1000))
        .isEqualTo(new DeisSampler(12, 3, TimestepSpacing.LINSPACE, 0, false, SigmaSpacing.KARRAS));
    assertThatThrownBy(() -> parse("--sampler", "deis", "--order", "4").build(1000))
        .hasMessage("DEIS order must be 1, 2 or 3, got 4");
    assertThat(parse("--sampler", "deis", "--x0-guard", "dynamic-0.9-2").build(1000))
        .isEqualTo(DeisSampler.of(20).withGuard(X0Guard.dynamic(0.9, 2)));
    assertThatThrownBy(() -> parse("--sampler", "euler", "--x0-guard", "clip").build(1000))
        .hasMessageContaining("euler does not guard x0")
        .hasMessageContaining("deis do");
  }

  @Test
  void ordersAndVariantsASamplerHasNotAreRefused() {
    assertThatThrownBy(() -> parse("--sampler", "euler", "--order", "3").build(1000))
        .hasMessage(
            "--order 3: euler has no solver order; --order is for dpmpp, dpmpp-sde, dpm-solver,"
                + " unipc, lms and deis");
    assertThatThrownBy(() -> parse("--sampler", "lms", "--order", "5").build(1000))
        .hasMessage("LMS order must be in [1, 4], got 5");
    assertThatThrownBy(() -> parse("--sampler", "lms", "--x0-guard", "clip").build(1000))
        .hasMessageContaining("lms does not guard x0");
    assertThat(parse("--sampler", "unipc", "--order", "3").build(1000))
        .isEqualTo(UniPcSampler.of(20).withOrder(3));
    assertThatThrownBy(() -> parse("--sampler", "unipc", "--order", "4").build(1000))
        .hasMessage("UniPC order must be 1, 2 or 3, got 4");
    assertThatThrownBy(() -> parse("--order", "4").build(1000))
        .hasMessage("DPM-Solver++ order must be 1, 2 or 3, got 4");
    assertThatThrownBy(() -> parse("--sampler", "dpmpp", "--unipc-variant", "bh1").build(1000))
        .hasMessage("--unipc-variant bh1 is for --sampler unipc, not dpmpp");
    assertThatThrownBy(() -> parse("--sampler", "unipc", "--unipc-variant", "bh3").build(1000))
        .hasMessage("unknown UniPC variant 'bh3'; valid: bh1, bh2");
    assertThatThrownBy(() -> parse("--sampler", "unipc", "--sigmas", "exponential").build(1000))
        .hasMessage("UniPC takes the timesteps' own sigmas or karras, got EXPONENTIAL");
  }
}
