package org.tfdiffusion.cli;

import java.util.Locale;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.train.TrainPreset;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * The {@code --preset} of the commands that build a bare model (forward, summary, bench-cluster):
 * train's presets, and bench's small model.
 */
public final class ModelPreset {
  /** Named model shapes. */
  public enum Name {
    /** train's demo preset: 28x28x1, width 24, 3 levels, 10 classes. */
    DEMO,
    /** train's fashion-mnist preset: 28x28x1, width 64, 3 levels, 10 classes. */
    FASHION_MNIST,
    /** The tutorial's model (train's tutorial preset): 32x32x3, hidden 128, 4 levels. */
    TUTORIAL,
    /** The small benchmark model: 32x32x1, hidden 64, 3 levels. */
    SMALL;

    public UNetConfig config() {
      return switch (this) {
        case DEMO -> TrainPreset.DEMO.config().model();
        case FASHION_MNIST -> TrainPreset.FASHION_MNIST.config().model();
        case TUTORIAL -> UNetConfig.tutorial();
        case SMALL -> UNetConfig.small();
      };
    }
  }

  @Option(
      names = "--preset",
      description =
          "Model: train's presets demo (28x28x1, width 24, 3 levels), fashion-mnist (28x28x1, 64,"
              + " 3) and tutorial (32x32x3, 128, 4), or bench's small (32x32x1, 64, 3) (default:"
              + " ${DEFAULT-VALUE}).",
      defaultValue = "tutorial",
      converter = Converter.class)
  Name preset = Name.TUTORIAL;

  public UNetConfig base() {
    return preset.config();
  }

  /** Accepts preset names in any case. */
  public static final class Converter implements CommandLine.ITypeConverter<Name> {
    @Override
    public Name convert(String value) {
      try {
        return Name.valueOf(value.trim().replace('-', '_').toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(
            "unknown preset '" + value + "'; valid: demo, fashion-mnist, tutorial, small");
      }
    }
  }
}
