package org.tfdiffusion.cli;

import java.util.Locale;
import org.tfdiffusion.model.UNetConfig;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** The {@code --preset} of the commands that build a bare model (summary, demo, bench). */
final class ModelPreset {
  /** Named model shapes. */
  enum Name {
    /** The tutorial's model: 32x32x3, hidden 128, 4 levels. */
    TUTORIAL,
    /** The small benchmark model: 32x32x1, hidden 64, 3 levels. */
    SMALL;

    UNetConfig config() {
      return this == TUTORIAL ? UNetConfig.tutorial() : UNetConfig.small();
    }
  }

  @Option(
      names = "--preset",
      description = "Model: tutorial (32x32x3, hidden 128, 4 levels) or small (32x32x1, 64, 3).",
      defaultValue = "tutorial",
      converter = Converter.class)
  Name preset = Name.TUTORIAL;

  UNetConfig base() {
    return preset.config();
  }

  /** Accepts preset names in any case. */
  static final class Converter implements CommandLine.ITypeConverter<Name> {
    @Override
    public Name convert(String value) {
      try {
        return Name.valueOf(value.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException("unknown preset '" + value + "'; valid: tutorial, small");
      }
    }
  }
}
