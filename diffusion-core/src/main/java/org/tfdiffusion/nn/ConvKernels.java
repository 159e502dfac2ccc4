package org.tfdiffusion.nn;

import java.util.Locale;
import java.util.Optional;

/**
 * Which kernels a training graph's k×k convolutions run: TensorFlow's {@code Conv2D} (compiled by
 * XLA where XLA is on) or oneDNN's kernels through {@link NativeConv}.
 */
public enum ConvKernels {
  /** oneDNN's where the library is built and the step runs float32 in one process. */
  AUTO,
  /** oneDNN's; an error where the library is missing. */
  ONEDNN,
  /** TensorFlow's {@code Conv2D}. */
  TENSORFLOW;

  /** Parses {@code auto}, {@code onednn} or {@code tensorflow} (any case). */
  public static ConvKernels parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown convolution kernels '" + name + "': use auto, onednn or tensorflow", e);
    }
  }

  /**
   * Whether a graph uses the native ops under this choice.
   *
   * @param distributed whether the step runs on a cluster of processes (native ops: no)
   * @param bfloat16 whether the step runs oneDNN's bfloat16 rewrite (the native ops are float32)
   * @throws IllegalStateException for {@link #ONEDNN} where the ops cannot be used, saying why
   */
  public boolean resolve(boolean distributed, boolean bfloat16) {
    return switch (this) {
      case TENSORFLOW -> false;
      case AUTO -> !distributed && !bfloat16 && NativeConv.available();
      case ONEDNN -> {
        if (distributed) {
          throw new IllegalStateException(
              "--conv onednn runs in one process only; a cluster uses TensorFlow's convolutions"
                  + " (--conv tensorflow)");
        }
        if (bfloat16) {
          throw new IllegalStateException(
              "--conv onednn is float32; with --bf16 use --conv tensorflow");
        }
        if (!NativeConv.available()) {
          throw new IllegalStateException(
              "--conv onednn: the oneDNN convolution ops are not available: "
                  + NativeConv.unavailableReason().orElse("")
                  + "; or use --conv tensorflow");
        }
        yield true;
      }
    };
  }

  /** What the faster kernels need where their library is not built. */
  public static final String HOW_TO_GET_ONEDNN =
      "apt-get install g++ libdnnl-dev, then run ./tfdiffusion again to build them";

  /**
   * Which convolution kernels a graph uses, in a few words, with how to get oneDNN's (the faster
   * ones) when their library is not there.
   *
   * @param used whether the graph uses oneDNN's kernels
   */
  public static String summary(boolean used) {
    return summary(used, used ? Optional.empty() : NativeConv.unavailableReason());
  }

  /** As {@link #summary(boolean)}, given why the library is unavailable (empty: it is loaded). */
  static String summary(boolean used, Optional<String> unavailable) {
    if (used) {
      return switch (NativeConv.winograd()) {
        case "all" -> "oneDNN's convolutions, Winograd's kernels wherever they run";
        case "off" -> "oneDNN's convolutions, direct kernels only";
        default -> "oneDNN's convolutions";
      };
    }
    return unavailable.isPresent()
        ? "TensorFlow's Conv2D (oneDNN's are faster: " + HOW_TO_GET_ONEDNN + ")"
        : "TensorFlow's Conv2D";
  }
}
