package org.tfdiffusion.diffusion;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What the network predicts, and so what the training loss compares it with. The aliases are
 * diffusers' {@code prediction_type} strings.
 */
public enum Prediction {
  /** ε, the noise that was added (Ho et al. 2020; the tutorial). */
  EPSILON("epsilon", "eps"),
  /** x_0, the clean image. */
  SAMPLE("sample", "x0"),
  /** v = √ᾱ_t ε - √(1-ᾱ_t) x_0 (Salimans &amp; Ho 2022, "Progressive Distillation"). */
  V_PREDICTION("v_prediction", "v");

  private final String[] aliases;

  Prediction(String... aliases) {
    this.aliases = aliases;
  }

  /** The canonical name used in config files. */
  public String configName() {
    return aliases[0];
  }

  /**
   * Finds a prediction type by name or alias, case-insensitively.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static Prediction lookup(String name) {
    checkArgument(name != null, "prediction type is null; valid: %s", validNames());
    String key = name.trim().toLowerCase(Locale.ROOT);
    for (Prediction p : values()) {
      if (p.name().toLowerCase(Locale.ROOT).equals(key) || Arrays.asList(p.aliases).contains(key)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "unknown prediction type '" + name + "'; valid: " + validNames());
  }

  /** All accepted names. */
  public static String validNames() {
    return Arrays.stream(values())
        .map(p -> String.join("|", p.aliases))
        .collect(Collectors.joining(", "));
  }
}
