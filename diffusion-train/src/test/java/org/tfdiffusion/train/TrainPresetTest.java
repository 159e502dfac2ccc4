package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * Each preset's config, written out with the records' positional constructors: an independent check
 * of the named builders the presets are written with.
 */
class TrainPresetTest {
  @Test
  void theDemoPresetIsItsRecipe() {
    TrainConfig expected =
        new TrainConfig(
            TrainConfig.FORMAT,
            UNetConfig.builder().imageSize(28).channels(1).baseWidth(24).levels(3).build(),
            TrainConfig.Schedule.cosine(),
            Prediction.V_PREDICTION,
            TrainConfig.Data.embedded(),
            new TrainConfig.Optimizer(2e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 192, true, 1e-4),
            new TrainConfig.Ema(0.995, true),
            new TrainConfig.Training(770, 32, 1, 0, 10, 200, 3, 200, 60, SamplerKind.DPMPP, 20),
            TrainConfig.Conditioning.labels(3.0),
            TrainConfig.FineTune.none(),
            "demo",
            LossWeighting.minSnr(5));
    assertThat(TrainPreset.DEMO.config()).isEqualTo(expected);
  }

  @Test
  void theFashionMnistPresetIsItsRecipe() {
    TrainConfig expected =
        new TrainConfig(
            TrainConfig.FORMAT,
            UNetConfig.builder()
                .imageSize(28)
                .channels(1)
                .baseWidth(32)
                .channelMultipliers(List.of(1, 2, 4))
                .blocksPerLevel(2)
                .build(),
            TrainConfig.Schedule.tutorial(),
            Prediction.EPSILON,
            new TrainConfig.Data(
                "/usr/share/datasets/fashion-mnist", Split.TRAIN, FitMode.AUTO, false),
            new TrainConfig.Optimizer(1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 500, true, 1e-5),
            new TrainConfig.Ema(0.9995, true),
            new TrainConfig.Training(8000, 64, 1, 0, 50, 250, 3, 1000, 60, SamplerKind.DPMPP, 25),
            TrainConfig.Conditioning.labels(2.0),
            TrainConfig.FineTune.none(),
            "fashion-mnist",
            LossWeighting.minSnr(5));
    assertThat(TrainPreset.FASHION_MNIST.config()).isEqualTo(expected);
  }

  @Test
  void theTutorialPresetIsItsRecipe() {
    TrainConfig expected =
        new TrainConfig(
            TrainConfig.FORMAT,
            UNetConfig.tutorial(),
            TrainConfig.Schedule.tutorial(),
            Prediction.EPSILON,
            TrainConfig.Data.embedded(),
            new TrainConfig.Optimizer(1e-4, 0.9, 0.999, 1e-8, 0.01, 1.0, 0, false, 0),
            new TrainConfig.Ema(0.999, true),
            new TrainConfig.Training(10000, 32, 1, 0, 10, 500, 3, 1000, 16, SamplerKind.DPMPP, 20),
            TrainConfig.Conditioning.none(),
            TrainConfig.FineTune.none(),
            "tutorial");
    assertThat(TrainPreset.TUTORIAL.config()).isEqualTo(expected);
  }

  @Test
  void theBuildersStartFromTheTutorialsSettings() {
    assertThat(TrainConfig.Optimizer.builder().build()).isEqualTo(TrainConfig.Optimizer.tutorial());
    assertThat(TrainConfig.Training.builder().build()).isEqualTo(TrainConfig.Training.tutorial());
    assertThat(TrainConfig.builder().preset("tutorial").build())
        .isEqualTo(TrainPreset.TUTORIAL.config());
  }
}
