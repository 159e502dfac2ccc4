package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;

/** The typed options of {@code train} reach the config, which writes them by their names. */
class TrainOptionsTest {
  private static TrainConfig config(String... args) {
    TrainCommand command = new TrainCommand();
    TrainCommand.commandLine(command).parseArgs(args);
    return command.config();
  }

  @Test
  void theNamedOptionsAreTheConfigsChoices() throws Exception {
    TrainConfig config =
        config(
            "--prediction",
            "V",
            "--schedule",
            "squaredcos_cap_v2",
            "--split",
            "t10k",
            "--fit",
            "center_crop",
            "--sampler",
            "dpm++",
            "--loss-weighting",
            "Min_SNR-3");
    assertThat(config.prediction()).isEqualTo(Prediction.V_PREDICTION);
    assertThat(config.schedule().kind()).isEqualTo(BetaSchedule.COSINE);
    assertThat(config.data().split()).isEqualTo(Split.TEST);
    assertThat(config.data().fit()).isEqualTo(FitMode.CENTER_CROP);
    assertThat(config.training().sampler()).isEqualTo(SamplerKind.DPMPP);
    assertThat(config.loss()).isEqualTo(LossWeighting.minSnr(3));
    String json = RunDirectory.json().writeValueAsString(config);
    assertThat(json)
        .contains("\"prediction\" : \"v_prediction\"")
        .contains("\"kind\" : \"cosine\"")
        .contains("\"split\" : \"test\"")
        .contains("\"fit\" : \"center-crop\"")
        .contains("\"sampler\" : \"dpmpp\"");
    assertThat(RunDirectory.json().readValue(json, TrainConfig.class)).isEqualTo(config);
  }

  @Test
  void withoutTheOptionsThePresetsChoicesStay() {
    TrainConfig config = config("--preset", "demo");
    assertThat(config.prediction()).isEqualTo(Prediction.V_PREDICTION);
    assertThat(config.schedule().kind()).isEqualTo(BetaSchedule.COSINE);
    assertThat(config.loss()).isEqualTo(LossWeighting.minSnr(5));
    assertThat(config("--loss-weighting", "uniform").loss()).isEqualTo(LossWeighting.uniform());
  }
}
