package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.EulerAncestralSampler;
import org.tfdiffusion.sampling.EulerSampler;
import org.tfdiffusion.sampling.HeunSampler;
import org.tfdiffusion.sampling.SigmaSpacing;
import org.tfdiffusion.sampling.TimestepSpacing;
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
}
