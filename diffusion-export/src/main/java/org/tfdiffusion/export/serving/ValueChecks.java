package org.tfdiffusion.export.serving;

import java.util.Map;
import java.util.Optional;

/**
 * Checks of prediction values beyond their dtypes (which {@link JsonTensors} checks): the ranges
 * that tfdiffusion's export signatures accept, and answers that must be numbers.
 *
 * <ul>
 *   <li>{@code guidance_scale} in [0, {@value #MAX_GUIDANCE}]: classifier-free guidance, where 0 is
 *       unconditional and 1-10 the usual range; beyond a few hundred the image only saturates, and
 *       beyond float32's range it becomes NaN. The graph itself checks {@code class_label}, {@code
 *       num_steps}, {@code eta} and {@code t}.
 *   <li>{@code images} and {@code mask} (the {@code img2img} and {@code inpaint} signatures) in [0,
 *       1], the range of the images the export returns (8-bit pixels divided by 255).
 *   <li>{@code strength} in (0, 1], and large enough to run one of the export's N steps: ⌊N · s⌋ ≥
 *       1, the rule of {@code Strength} (N from the export's metadata).
 *   <li>Every floating-point output must be finite: NaN or infinity (which JSON cannot carry as a
 *       number) means inputs far outside what the model was trained on, and is refused as such.
 * </ul>
 */
final class ValueChecks {
  /** The largest guidance scale a request may ask for. */
  static final double MAX_GUIDANCE = 100;

  /** A closed range of allowed values. */
  record Range(double min, double max) {
    boolean contains(double v) {
      return v >= min && v <= max;
    }

    @Override
    public String toString() {
      return "[" + format(min) + ", " + format(max) + "]";
    }

    private static String format(double v) {
      return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
  }

  /** The ranges of tfdiffusion's inputs, by signature input name. */
  static final Map<String, Range> RANGES =
      Map.of(
          "guidance_scale",
          new Range(0, MAX_GUIDANCE),
          "images",
          new Range(0, 1),
          "mask",
          new Range(0, 1));

  /** The input holding an edit's strength. */
  static final String STRENGTH = "strength";

  private ValueChecks() {}

  /**
   * Refuses inputs of a tfdiffusion export (one with {@code tfdiffusion.json}) outside their range.
   *
   * @throws ServingException 400 naming the input, the value and the allowed range
   */
  static void checkInputs(ServableModel model, Map<String, HostTensor> inputs) {
    if (model.metadata().isEmpty()) {
      return; // a SavedModel from elsewhere: its input names may mean something else
    }
    for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
      Range range = RANGES.get(e.getKey());
      if (range == null) {
        continue;
      }
      Optional<String> bad = firstOutside(e.getValue(), range);
      if (bad.isPresent()) {
        throw ServingException.invalid(
            "input '%s' is %s: %s must be in %s%s",
            e.getKey(),
            bad.get(),
            e.getKey(),
            range,
            e.getKey().equals("guidance_scale") ? "" : " (8-bit values divided by 255)");
      }
    }
    HostTensor strength = inputs.get(STRENGTH);
    if (strength != null && strength.values() instanceof double[] values) {
      int steps = model.metadata().get().steps();
      for (double s : values) {
        checkStrength(s, steps);
      }
    }
  }

  /**
   * Refuses a strength outside (0, 1], or one that runs none of the export's {@code steps}: ⌊N · s⌋
   * = 0, computed in double as the export computes it.
   *
   * @param steps N, or 0 when the metadata does not say (the graph then checks it)
   * @throws ServingException 400 naming the value and the allowed range
   */
  static void checkStrength(double s, int steps) {
    if (!(s > 0 && s <= 1)) {
      throw ServingException.invalid(
          "input 'strength' is %s: strength must be in (0, 1] (1 = from pure noise, the image"
              + " unused; near 0 = close to the image)",
          s);
    }
    if (steps > 0 && Math.min((int) (steps * s), steps) < 1) {
      throw ServingException.invalid(
          "input 'strength' is %s, which runs none of this export's %d steps (⌊%d · %s⌋ = 0):"
              + " give a strength of at least %s",
          s, steps, steps, s, 1.0 / steps);
    }
  }

  /**
   * Refuses an answer with NaN or infinity in a floating-point output.
   *
   * @throws ServingException 400 naming the output
   */
  static void checkOutputs(ServableModel model, Map<String, HostTensor> outputs) {
    for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
      if (!allFinite(e.getValue())) {
        throw ServingException.invalid(
            "version %d of model %s computed NaN or infinity in output '%s' from these inputs:"
                + " they are far outside what it was trained on (images are in [-1, 1], noise of"
                + " scale 1); bring them into range (if every request does this, the export's"
                + " weights are broken)",
            model.version(), model.name(), e.getKey());
      }
    }
  }

  /** The first value outside the range, as the request wrote it (more or less). */
  private static Optional<String> firstOutside(HostTensor t, Range range) {
    Object values = t.values();
    if (values instanceof float[] f) {
      for (float v : f) {
        if (!range.contains(v)) {
          return Optional.of(String.valueOf(v));
        }
      }
    } else if (values instanceof double[] d) {
      for (double v : d) {
        if (!range.contains(v)) {
          return Optional.of(String.valueOf(v));
        }
      }
    }
    return Optional.empty();
  }

  private static boolean allFinite(HostTensor t) {
    Object values = t.values();
    if (values instanceof float[] f) {
      for (float v : f) {
        if (!Float.isFinite(v)) {
          return false;
        }
      }
    } else if (values instanceof double[] d) {
      for (double v : d) {
        if (!Double.isFinite(v)) {
          return false;
        }
      }
    }
    return true;
  }
}
