package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * How N inference steps are laid over the T training timesteps, as diffusers' {@code
 * timestep_spacing} (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
 * Flawed", table 2). Timesteps are returned in descending order.
 */
public enum TimestepSpacing implements Named {
  /** {@code round(linspace(0, T - 1, N))}, reversed (numpy's arithmetic, which decides ties). */
  LINSPACE("linspace"),
  /** {@code arange(0, N) · (T / N) + steps_offset}, reversed (integer division). */
  LEADING("leading"),
  /**
   * {@code round(arange(T, 0, -T / N)) - 1} (float step; numpy's arithmetic, which decides ties).
   */
  TRAILING("trailing");

  private final String configName;

  TimestepSpacing(String configName) {
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
        double[] points = numpyLinspace(trainTimesteps - 1, steps);
        for (int i = 0; i < steps; i++) {
          ascending[i] = (int) Math.rint(points[i]);
        }
      }
      case LEADING -> {
        int ratio = trainTimesteps / steps;
        for (int i = 0; i < steps; i++) {
          ascending[i] = i * ratio + stepsOffset;
        }
      }
      case TRAILING -> {
        // np.round(np.arange(T, 0, -T / N)) - 1, which is descending
        double[] points = numpyArange(trainTimesteps, -trainTimesteps / (double) steps, steps);
        for (int i = 0; i < steps; i++) {
          ascending[steps - 1 - i] = (int) Math.rint(points[i]) - 1;
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
   * {@code np.linspace(0, stop, num)} with numpy's arithmetic: {@code i · step}, {@code step = stop
   * / (num - 1)} rounded to double, the last point set to stop ([0] for num = 1). The order of
   * operations matters where the exact point is a half: 7 · (29.0 / 14) is 14.500000000000002 and
   * rounds to 15, where 7 · 29.0 / 14 = 14.5 would round to 14.
   */
  static double[] numpyLinspace(double stop, int num) {
    double[] points = new double[num];
    if (num > 1) {
      double step = stop / (num - 1);
      for (int i = 0; i < num; i++) {
        points[i] = i * step;
      }
      points[num - 1] = stop;
    }
    return points;
  }

  /**
   * The first {@code count} points of {@code np.arange(start, stop, step)} with numpy's arithmetic:
   * start, start + step, then {@code start + i · delta} with {@code delta = (start + step) - start}
   * (numpy's fill for float arrays). numpy's own length, {@code ceil((stop - start) / step)}, can
   * exceed the intended count by one when step is rounded (T = 1000, N = 61: 62 points, the last
   * -5.7e-13); callers take exactly the count they need.
   */
  static double[] numpyArange(double start, double step, int count) {
    double[] points = new double[count];
    points[0] = start;
    if (count > 1) {
      points[1] = start + step;
      double delta = points[1] - start;
      for (int i = 2; i < count; i++) {
        points[i] = start + i * delta;
      }
    }
    return points;
  }

  /**
   * Finds a spacing by name.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static TimestepSpacing lookup(String name) {
    return Named.lookup(TimestepSpacing.class, "timestep spacing", name);
  }

  public static String validNames() {
    return Named.validNames(TimestepSpacing.class);
  }
}
