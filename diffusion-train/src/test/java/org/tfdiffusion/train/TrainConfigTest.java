package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;

class TrainConfigTest {
  @TempDir Path temp;

  @Test
  void everyPresetSurvivesAJsonRoundTrip() throws Exception {
    for (TrainPreset preset : TrainPreset.values()) {
      TrainConfig config = preset.config();
      String json = RunDirectory.json().writeValueAsString(config);
      assertThat(RunDirectory.json().readValue(json, TrainConfig.class)).isEqualTo(config);
    }
  }

  @Test
  void aFixedDecayIsWrittenAsBeforeAndAPowerFunctionRoundTrips() throws Exception {
    TrainConfig fixed = TrainPreset.DEMO.config();
    String json = RunDirectory.json().writeValueAsString(fixed.ema());
    assertThat(json.replaceAll("\\s", "")).isEqualTo("{\"decay\":0.995,\"warmup\":true}");
    TrainConfig.Ema written =
        RunDirectory.json().readValue("{\"decay\":0.995,\"warmup\":false}", TrainConfig.Ema.class);
    assertThat(written).isEqualTo(new TrainConfig.Ema(0.995, false, 0));
    assertThat(written.isPowerFunction()).isFalse();

    TrainConfig power = fixed.withEma(TrainConfig.Ema.powerFunction(6.94));
    String powerJson = RunDirectory.json().writeValueAsString(power);
    assertThat(RunDirectory.json().readValue(powerJson, TrainConfig.class)).isEqualTo(power);
    assertThat(RunDirectory.json().readTree(powerJson).get("ema").get("power").asDouble())
        .isEqualTo(6.94);
    assertThat(power.ema().keepsShadows()).isTrue();
    assertThatThrownBy(() -> TrainConfig.Ema.powerFunction(-1))
        .hasMessageContaining("--ema-power must be > 0");
  }

  /**
   * The preset is the recipe of the shipped export, as its metadata records it: the shipped model
   * is the preset's 8000 steps continued by a fine-tuning run (its own optimizer and EMA, see the
   * model card), so the model, noise schedule, objective, data and conditioning are the preset's.
   */
  @Test
  void theFashionMnistPresetIsTheShippedModelsRecipe() throws Exception {
    Path metadata = Path.of("../saved_models/fashion-mnist/1/assets.extra/tfdiffusion.json");
    assertThat(metadata).exists();
    TrainConfig shipped =
        RunDirectory.json()
            .treeToValue(
                RunDirectory.json().readTree(metadata.toFile()).get("config"), TrainConfig.class);
    TrainConfig preset = TrainPreset.FASHION_MNIST.config();
    // the class count comes from the data when training starts
    assertThat(preset.model().toBuilder().numClasses(10).build()).isEqualTo(shipped.model());
    assertThat(preset.schedule()).isEqualTo(shipped.schedule());
    assertThat(preset.prediction()).isEqualTo(shipped.prediction());
    assertThat(preset.data()).isEqualTo(shipped.data());
    assertThat(shipped.fineTune().parentStep()).isEqualTo(8000);
    assertThat(preset.loss()).isEqualTo(shipped.loss());
    assertThat(preset.conditioning().pUncond()).isEqualTo(shipped.conditioning().pUncond());
    assertThat(preset.conditioning().guidance()).isEqualTo(shipped.conditioning().guidance());
    assertThat(preset.training().batchSize()).isEqualTo(shipped.training().batchSize());
  }

  /** The demo's recipe (docs/recipes.md): v-prediction, min-SNR-5, the cosine noise schedule. */
  @Test
  void theDemoPresetIsTheMeasuredRecipe() {
    TrainConfig demo = TrainPreset.DEMO.config();
    assertThat(demo.schedule()).isEqualTo(TrainConfig.Schedule.cosine());
    assertThat(demo.noiseSchedule().alphasCumprod().get(500))
        .as("cosine ᾱ at t = 500 (about cos²(π/4) = 0.5), not the linear schedule's 0.08")
        .isCloseTo(0.49, org.assertj.core.data.Offset.offset(0.02));
    assertThat(demo.predictionType()).isEqualTo(org.tfdiffusion.diffusion.Prediction.V_PREDICTION);
    assertThat(demo.training().steps()).isEqualTo(600);
    assertThat(demo.training().batchSize()).isEqualTo(32);
  }

  @Test
  void configJsonRebuildsTheRun() throws Exception {
    TrainConfig config = TrainPreset.DEMO.config();
    RunDirectory created = RunDirectory.create(temp.resolve("r"), config);
    assertThat(Files.readString(created.root().resolve("config.json")))
        .contains("\"baseWidth\" : 32");
    assertThat(RunDirectory.open(temp.resolve("r")).config()).isEqualTo(config);
  }

  @Test
  void badValuesAreRefusedWithTheOption() {
    assertThatThrownBy(() -> new TrainConfig.Training(10, 30, 4, 0, 1, 0, 1, 0, 4, "ddim", 5))
        .hasMessageContaining("--batch-size 30 is not divisible by --accumulation 4");
    assertThatThrownBy(() -> new TrainConfig.Training(0, 8, 1, 0, 1, 0, 1, 0, 4, "ddim", 5))
        .hasMessageContaining("--steps must be >= 1");
    assertThatThrownBy(() -> new TrainConfig.Training(1, 8, 1, 0, 1, 0, 1, 0, 4, "lcm", 5))
        .hasMessageContaining("unknown sampler 'lcm'");
    assertThatThrownBy(() -> TrainPreset.lookup("huge"))
        .hasMessageContaining("demo, fashion-mnist, tutorial");
    assertThatThrownBy(() -> new TrainConfig.Schedule("quadratic", 1000, 1e-4, 0.02))
        .hasMessageContaining("unknown beta schedule 'quadratic'");
  }

  @Test
  void fineTuningWeightsAreWrittenAsTheirLowercaseNames() throws Exception {
    for (TrainedModel.Weights weights : TrainedModel.Weights.values()) {
      TrainConfig config =
          TrainPreset.DEMO
              .config()
              .withFineTune(new TrainConfig.FineTune("parent", 4, weights, List.of("down_")));
      String json = RunDirectory.json().writeValueAsString(config);
      assertThat(json).contains("\"weights\" : \"" + weights.configName() + "\"");
      assertThat(RunDirectory.json().readValue(json, TrainConfig.class)).isEqualTo(config);
    }
    assertThat(TrainedModel.Weights.EMA.configName()).isEqualTo("ema");
    assertThat(TrainedModel.Weights.RAW.configName()).isEqualTo("raw");
    String raw = RunDirectory.json().writeValueAsString(TrainPreset.DEMO.config());
    String best = raw.replace("\"weights\" : \"ema\"", "\"weights\" : \"best\"");
    assertThat(best).isNotEqualTo(raw);
    assertThatThrownBy(() -> RunDirectory.json().readValue(best, TrainConfig.class))
        .hasMessageContaining("unknown fine-tuning weights 'best'; valid: ema, raw");
  }

  @Test
  void learningRateWarmsUpThenFollowsTheCosine() {
    LearningRateSchedule s = new LearningRateSchedule(1e-3, 10, true, 1e-5, 110);
    assertThat(s.at(1)).isCloseTo(1e-4, within(1e-15));
    assertThat(s.at(10)).isCloseTo(1e-3, within(1e-15));
    // halfway through the decay: lr_min + (lr - lr_min) / 2
    assertThat(s.at(60)).isCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), within(1e-12));
    assertThat(s.at(110)).isCloseTo(1e-5, within(1e-12));
    LearningRateSchedule constant = new LearningRateSchedule(1e-4, 0, false, 0, 100);
    assertThat(constant.at(1)).isEqualTo(1e-4);
    assertThat(constant.at(100)).isEqualTo(1e-4);
  }
}
