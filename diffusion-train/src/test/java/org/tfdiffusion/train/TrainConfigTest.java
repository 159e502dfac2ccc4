package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;

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
    assertThat(demo.training().steps()).isEqualTo(770);
    assertThat(demo.training().batchSize()).isEqualTo(32);
  }

  @Test
  void configJsonRebuildsTheRun() throws Exception {
    TrainConfig config = TrainPreset.DEMO.config();
    RunDirectory created = RunDirectory.create(temp.resolve("r"), config);
    assertThat(Files.readString(created.root().resolve("config.json")))
        .contains("\"baseWidth\" : 24");
    assertThat(RunDirectory.open(temp.resolve("r")).config()).isEqualTo(config);
  }

  @Test
  void badValuesAreRefusedWithTheOption() {
    assertThatThrownBy(
            () -> new TrainConfig.Training(10, 30, 4, 0, 1, 0, 1, 0, 4, SamplerKind.DDIM, 5))
        .hasMessageContaining("--batch-size 30 is not divisible by --accumulation 4");
    assertThatThrownBy(
            () -> new TrainConfig.Training(0, 8, 1, 0, 1, 0, 1, 0, 4, SamplerKind.DDIM, 5))
        .hasMessageContaining("--steps must be >= 1");
    assertThatThrownBy(() -> TrainPreset.lookup("huge"))
        .hasMessageContaining("demo, fashion-mnist, tutorial");
    assertThatThrownBy(() -> new TrainConfig.Schedule(null, 1000, 1e-4, 0.02))
        .hasMessage("beta schedule is null; valid: linear, scaled_linear, cosine, sigmoid");
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

  /** A config.json as every run writes it: its choices are the names the options take. */
  private static final String WRITTEN =
      """
      {
        "format" : 1,
        "model" : {
          "imageSize" : 28,
          "channels" : 1,
          "baseWidth" : 32,
          "channelMultipliers" : [ 1, 2, 4 ],
          "blocksPerLevel" : 1,
          "attentionResolutions" : [ ],
          "attentionHeads" : 1,
          "dropout" : 0.0,
          "numClasses" : 0,
          "normGroups" : 8
        },
        "schedule" : {
          "kind" : "scaled_linear",
          "timesteps" : 1000,
          "betaStart" : 1.0E-4,
          "betaEnd" : 0.02
        },
        "prediction" : "v_prediction",
        "data" : {
          "source" : "idx",
          "split" : "test",
          "fit" : "center-crop",
          "flip" : true
        },
        "optimizer" : {
          "learningRate" : 0.002,
          "beta1" : 0.9,
          "beta2" : 0.999,
          "epsilon" : 1.0E-8,
          "weightDecay" : 0.01,
          "clipNorm" : 1.0,
          "warmupSteps" : 150,
          "cosineDecay" : true,
          "minLearningRate" : 1.0E-4
        },
        "ema" : {
          "decay" : 0.995,
          "warmup" : true
        },
        "training" : {
          "steps" : 600,
          "batchSize" : 32,
          "accumulation" : 1,
          "seed" : 0,
          "logEvery" : 10,
          "checkpointEvery" : 200,
          "keepCheckpoints" : 3,
          "sampleEvery" : 200,
          "sampleCount" : 60,
          "sampler" : "euler-ancestral",
          "samplerSteps" : 20
        },
        "conditioning" : {
          "enabled" : true,
          "pUncond" : 0.1,
          "guidance" : 3.0,
          "classNames" : [ ]
        },
        "fineTune" : {
          "parentRun" : "",
          "parentStep" : 0,
          "weights" : "ema",
          "frozen" : [ ]
        },
        "preset" : "demo",
        "loss" : {
          "kind" : "MIN_SNR",
          "gamma" : 5.0
        },
        "distillation" : {
          "steps" : 0,
          "finalSteps" : 0,
          "teacherGuidance" : 1.0,
          "guidanceDistilled" : false
        }
      }""";

  @Test
  void aWrittenConfigJsonLoadsAsItsChoicesAndIsWrittenBackTheSame() throws Exception {
    TrainConfig config = RunDirectory.json().readValue(WRITTEN, TrainConfig.class);
    assertThat(config.prediction()).isEqualTo(Prediction.V_PREDICTION);
    assertThat(config.schedule().kind()).isEqualTo(BetaSchedule.SCALED_LINEAR);
    assertThat(config.data().split()).isEqualTo(Split.TEST);
    assertThat(config.data().fit()).isEqualTo(FitMode.CENTER_CROP);
    assertThat(config.training().sampler()).isEqualTo(SamplerKind.EULER_ANCESTRAL);
    assertThat(config.loss()).isEqualTo(LossWeighting.minSnr(5));
    assertThat(RunDirectory.json().writeValueAsString(config)).isEqualTo(WRITTEN);
  }

  @Test
  void configJsonTakesTheAliasesTheOptionsTake() throws Exception {
    String aliases =
        WRITTEN
            .replace("\"v_prediction\"", "\"V\"")
            .replace("\"scaled_linear\"", "\"scaled-linear\"")
            .replace("\"test\"", "\"t10k\"")
            .replace("\"center-crop\"", "\"CENTER_CROP\"")
            .replace("\"euler-ancestral\"", "\" euler-a \"");
    assertThat(RunDirectory.json().readValue(aliases, TrainConfig.class))
        .isEqualTo(RunDirectory.json().readValue(WRITTEN, TrainConfig.class));
  }

  @Test
  void anUnknownNameInConfigJsonIsRefusedWithTheValidNames() throws Exception {
    String[][] cases = {
      {"\"v_prediction\"", "unknown prediction type 'foo'; valid: epsilon, sample, v_prediction"},
      {
        "\"scaled_linear\"",
        "unknown beta schedule 'foo'; valid: linear, scaled_linear, cosine, sigmoid"
      },
      {"\"test\"", "unknown split 'foo'; valid: train, test"},
      {"\"center-crop\"", "unknown fit mode 'foo'; valid: auto, pad, center-crop, resize"},
      {"\"euler-ancestral\"", "unknown sampler 'foo'; valid: ddpm, ddim, dpmpp,"},
    };
    for (int i = 0; i < cases.length; i++) {
      String[] c = cases[i];
      String damaged = WRITTEN.replace(c[0], "\"foo\"");
      assertThat(damaged).isNotEqualTo(WRITTEN);
      assertThatThrownBy(() -> RunDirectory.json().readValue(damaged, TrainConfig.class))
          .message()
          .startsWith(c[1]);
      Path run = Files.createDirectories(temp.resolve("damaged-" + i));
      Files.writeString(run.resolve(RunDirectory.CONFIG), damaged);
      assertThatThrownBy(() -> RunDirectory.open(run))
          .isInstanceOf(IllegalArgumentException.class)
          .message()
          .startsWith("cannot read " + run.resolve(RunDirectory.CONFIG) + ": " + c[1]);
    }
    String missing = WRITTEN.replace("  \"prediction\" : \"v_prediction\",\n", "");
    assertThatThrownBy(() -> RunDirectory.json().readValue(missing, TrainConfig.class))
        .hasMessageContaining("prediction type is null; valid: epsilon, sample, v_prediction");
  }

  /** The shipped export's config reads, and is written back with the same names. */
  @Test
  void theShippedConfigIsWrittenBackAsItWasWritten() throws Exception {
    Path metadata = Path.of("../saved_models/fashion-mnist/1/assets.extra/tfdiffusion.json");
    JsonNode written = RunDirectory.json().readTree(metadata.toFile()).get("config");
    TrainConfig config = RunDirectory.json().treeToValue(written, TrainConfig.class);
    assertThat(config.prediction()).isEqualTo(Prediction.EPSILON);
    assertThat(config.training().sampler()).isEqualTo(SamplerKind.DPMPP);
    ObjectNode back = RunDirectory.json().valueToTree(config);
    // the export's config has no distillation section: a run that is not a distillation round
    assertThat(back.remove("distillation"))
        .isEqualTo(RunDirectory.json().valueToTree(TrainConfig.Distillation.none()));
    assertThat(RunDirectory.json().writeValueAsString(back))
        .isEqualTo(RunDirectory.json().writeValueAsString(written));
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
