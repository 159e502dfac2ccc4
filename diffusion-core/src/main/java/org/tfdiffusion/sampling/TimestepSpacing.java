package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How N inference steps are laid over the T training timesteps, as diffusers' {@code
 * timestep_spacing} (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
 * Flawed", table 2). Timesteps are returned in descending order.
 */
public enum TimestepSpacing {
  /** {@code round(linspace(0, T - 1, N))}, reversed. */
  LINSPACE("linspace"),
  /** {@code arange(0, N) · (T / N) + steps_offset}, reversed (integer division). */
  LEADING("leading"),
  /** {@code round(arange(T, 0, -T / N)) - 1} (float step). */
  TRAILING("trailing");

  private final String configName;

  TimestepSpacing(String configName) {
    this.configName = configName;
  }

  public String configName() {
    return configName;
  }

  /**
   * The N timesteps, descending.
   *
   * @param stepsOffset added to every timestep by {@link #LEADING} only (diffusers' {@code
   *     steps_offset}; Stable Diffusion uses 1)
   */
  public int[] timesteps(int trainTimesteps, int steps, int stepsOffset) {
    checkArgument(
        steps >= 1 && steps <= trainTimesteps,
        "number of sampling steps (%s) must be in [1, %s], the training timesteps",
        steps,
        trainTimesteps);
    int[] ascending = new int[steps];
    switch (this) {
      case LINSPACE -> {
        for (int i = 0; i < steps; i++) {
          double v = steps == 1 ? 0 : (trainTimesteps - 1) * (double) i / (steps - 1);
          ascending[i] = (int) Math.rint(v);
        }
      }
      case LEADING -> {
        int ratio = trainTimesteps / steps;
        for (int i = 0; i < steps; i++) {
          ascending[i] = i * ratio + stepsOffset;
        }
      }
      case TRAILING -> {
        double ratio = trainTimesteps / (double) steps;
        // np.round(np.arange(T, 0, -ratio)) - 1, which is descending
        for (int i = 0; i < steps; i++) {
          ascending[steps - 1 - i] = (int) Math.rint(trainTimesteps - i * ratio) - 1;
        }
      }
    }
    int[] descending = new int[steps];
    for (int i = 0; i < steps; i++) {
      descending[i] = ascending[steps - 1 - i];
    }
    for (int t : descending) {
      checkArgument(
          t >= 0 && t < trainTimesteps,
          "%s spacing with %s steps and offset %s gives timestep %s outside [0, %s)",
          configName,
          steps,
          stepsOffset,
          t,
          trainTimesteps);
    }
    return descending;
  }

  /**
   * Finds a spacing by name.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static TimestepSpacing lookup(String name) {
    checkArgument(name != null, "timestep spacing is null; valid: %s", validNames());
    String key = name.trim().toLowerCase(Locale.ROOT);
    for (TimestepSpacing s : values()) {
      if (s.configName.equals(key)) {
        return s;
      }
    }
    throw new IllegalArgumentException(
        "unknown timestep spacing '" + name + "'; valid: " + validNames());
  }

  public static String validNames() {
    return Arrays.stream(values()).map(s -> s.configName).collect(Collectors.joining(", "));
  }
}
