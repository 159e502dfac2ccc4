package org.tfdiffusion.train;

import java.util.List;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.run.TrainConfig;

/** Named starting points for {@code train}; every value can be overridden by an option. */
public enum TrainPreset implements Named {
  /**
   * Minutes on a 2-core CPU: a small U-Net (28×28×1, width 32, 3 levels) on the embedded
   * Fashion-MNIST subset, a higher learning rate with warm-up and cosine decay, v-prediction with
   * min-SNR-5 loss weighting (docs/recipes.md: it halves the Fréchet distance of the same budget
   * with ε-prediction and a uniform loss, and keeps x̂₀ from running away), the cosine noise
   * schedule (a third lower Fréchet distance than the linear one at the same cost: at 28×28 the
   * linear schedule spends most steps on images that are already pure noise), DPM-Solver++ grids.
   */
  DEMO("demo") {
    @Override
    public TrainConfig config() {
      return new TrainConfig(
          TrainConfig.FORMAT,
          UNetConfig.builder().imageSize(28).channels(1).baseWidth(32).levels(3).build(),
          TrainConfig.Schedule.cosine(),
          "v_prediction",
          TrainConfig.Data.embedded(),
          new TrainConfig.Optimizer(2e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 50, true, 1e-4),
          new TrainConfig.Ema(0.995, true),
          new TrainConfig.Training(600, 32, 1, 0, 10, 200, 3, 200, 60, "dpmpp", 20),
          TrainConfig.Conditioning.labels(3.0),
          TrainConfig.FineTune.none(),
          configName(),
          LossWeighting.minSnr(5));
    }
  },
  /**
   * The shipped Fashion-MNIST model's recipe (saved_models/fashion-mnist): width 32, channel
   * multipliers 1,2,4 with two blocks per level at 28×28, the full training split from Debian's
   * package (apt-get install dataset-fashion-mnist), batch 64 for 8000 steps, lr 1e-3 with 500
   * warm-up steps and a cosine decay to 1e-5, min-SNR-5 loss weighting, EMA 0.9995, no flips (every
   * shoe in Fashion-MNIST faces left: flipped ones are off the data).
   */
  FASHION_MNIST("fashion-mnist") {
    @Override
    public TrainConfig config() {
      return new TrainConfig(
          TrainConfig.FORMAT,
          UNetConfig.builder()
              .imageSize(28)
              .channels(1)
              .baseWidth(32)
              .channelMultipliers(List.of(1, 2, 4))
              .blocksPerLevel(2)
              .build(),
          TrainConfig.Schedule.tutorial(),
          "epsilon",
          new TrainConfig.Data("/usr/share/datasets/fashion-mnist", "train", "auto", false),
          new TrainConfig.Optimizer(1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 500, true, 1e-5),
          new TrainConfig.Ema(0.9995, true),
          new TrainConfig.Training(8000, 64, 1, 0, 50, 250, 3, 1000, 60, "dpmpp", 25),
          TrainConfig.Conditioning.labels(2.0),
          TrainConfig.FineTune.none(),
          configName(),
          LossWeighting.minSnr(5));
    }
  },
  /**
   * The tutorial's model and optimizer: 32×32×3, hidden 128, 4 levels, AdamW lr 1e-4, weight decay
   * 0.01, batch 32 (grayscale data is padded to 32 and copied into three channels).
   */
  TUTORIAL("tutorial") {
    @Override
    public TrainConfig config() {
      return new TrainConfig(
          TrainConfig.FORMAT,
          UNetConfig.tutorial(),
          TrainConfig.Schedule.tutorial(),
          "epsilon",
          TrainConfig.Data.embedded(),
          TrainConfig.Optimizer.tutorial(),
          new TrainConfig.Ema(0.999, true),
          new TrainConfig.Training(10000, 32, 1, 0, 10, 500, 3, 1000, 16, "dpmpp", 20),
          TrainConfig.Conditioning.none(),
          TrainConfig.FineTune.none(),
          configName());
    }
  };

  private final String configName;

  TrainPreset(String configName) {
    this.configName = configName;
  }

  @Override
  public String configName() {
    return configName;
  }

  @Override
  public List<String> names() {
    return List.of(configName);
  }

  /** The preset's full configuration. */
  public abstract TrainConfig config();

  /**
   * Finds a preset by name.
   *
   * @throws IllegalArgumentException listing the presets
   */
  public static TrainPreset lookup(String name) {
    return Named.lookup(TrainPreset.class, "preset", name);
  }

  public static String validNames() {
    return Named.validNames(TrainPreset.class);
  }
}
