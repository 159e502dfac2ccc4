package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.tfdiffusion.model.UNetConfig;

/** Named starting points for {@code train}; every value can be overridden by an option. */
public enum TrainPreset {
  /**
   * Minutes on a 2-core CPU: a small U-Net (28×28×1, width 32, 3 levels) on the embedded
   * Fashion-MNIST subset, a higher learning rate with warm-up and cosine decay, DPM-Solver++ grids.
   */
  DEMO("demo") {
    @Override
    public TrainConfig config() {
      return new TrainConfig(
          TrainConfig.FORMAT,
          UNetConfig.builder().imageSize(28).channels(1).baseWidth(32).levels(3).build(),
          TrainConfig.Schedule.tutorial(),
          "epsilon",
          TrainConfig.Data.embedded(),
          new TrainConfig.Optimizer(2e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 50, true, 1e-4),
          new TrainConfig.Ema(0.995, true),
          new TrainConfig.Training(600, 32, 1, 0, 10, 200, 3, 200, 60, "dpmpp", 20),
          TrainConfig.Conditioning.labels(3.0),
          TrainConfig.FineTune.none(),
          configName());
    }
  },
  /**
   * A real Fashion-MNIST model: width 64, 3 levels at 28×28, the full training split from Debian's
   * package (apt-get install dataset-fashion-mnist), flips, EMA 0.9995.
   */
  FASHION_MNIST("fashion-mnist") {
    @Override
    public TrainConfig config() {
      return new TrainConfig(
          TrainConfig.FORMAT,
          UNetConfig.builder().imageSize(28).channels(1).baseWidth(64).levels(3).build(),
          TrainConfig.Schedule.tutorial(),
          "epsilon",
          new TrainConfig.Data("/usr/share/datasets/fashion-mnist", "train", "auto", true),
          new TrainConfig.Optimizer(5e-4, 0.9, 0.999, 1e-8, 0.01, 1.0, 500, true, 1e-5),
          new TrainConfig.Ema(0.9995, true),
          new TrainConfig.Training(30000, 64, 1, 0, 50, 1000, 3, 2000, 64, "dpmpp", 25),
          TrainConfig.Conditioning.labels(3.0),
          TrainConfig.FineTune.none(),
          configName());
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

  public String configName() {
    return configName;
  }

  /** The preset's full configuration. */
  public abstract TrainConfig config();

  /**
   * Finds a preset by name.
   *
   * @throws IllegalArgumentException listing the presets
   */
  public static TrainPreset lookup(String name) {
    checkArgument(name != null, "preset is null; valid: %s", validNames());
    String key = name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    for (TrainPreset p : values()) {
      if (p.configName.equals(key)) {
        return p;
      }
    }
    throw new IllegalArgumentException("unknown preset '" + name + "'; valid: " + validNames());
  }

  public static String validNames() {
    return Arrays.stream(values()).map(TrainPreset::configName).collect(Collectors.joining(", "));
  }
}
