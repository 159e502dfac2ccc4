package org.tfdiffusion.diffusion;

import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * What the network predicts, and so what the training loss compares it with. The aliases are
 * diffusers' {@code prediction_type} strings.
 */
public enum Prediction implements Named {
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

  /** The canonical name (config files) first, then the aliases. */
  @Override
  public List<String> names() {
    return List.of(aliases);
  }

  /**
   * Finds a prediction type by name or alias, case-insensitively.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static Prediction lookup(String name) {
    return Named.lookup(Prediction.class, "prediction type", name);
  }

  /** All accepted names. */
  public static String validNames() {
    return Named.validNames(Prediction.class);
  }
}
