package org.tfdiffusion.cli;

import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import picocli.CommandLine.Option;

/**
 * How a sampling graph runs (picocli mixin of {@code sample} and {@code eval}): which convolution
 * kernels, and whether they run in bfloat16.
 */
public final class SamplingRuntime {
  @Option(
      names = "--conv",
      paramLabel = "KERNELS",
      defaultValue = "auto",
      description =
          "Convolution kernels: auto (oneDNN's where built, else TensorFlow's), onednn or"
              + " tensorflow (default: ${DEFAULT-VALUE}). oneDNN's give the same images within"
              + " 1/255.")
  String conv = "auto";

  @Option(
      names = "--bf16",
      description =
          "bfloat16 convolutions (oneDNN's kernels, AMX where the CPU has it): about twice as"
              + " fast; images differ from float32's by a few 1/255 (docs/performance.md).")
  boolean bf16;

  /** Whether --bf16 was given. */
  public boolean bf16() {
    return bf16;
  }

  /** {@code base} with these choices. */
  public SessionOptions apply(SessionOptions base) {
    boolean nativeConvolutions = ConvKernels.parse(conv).resolve(false, false);
    if (bf16 && !nativeConvolutions) {
      throw new IllegalArgumentException(
          "--bf16 needs oneDNN's convolutions (--conv auto or onednn): "
              + org.tfdiffusion.nn.NativeConv.unavailableReason()
                  .orElse("--conv tensorflow was given"));
    }
    return base.withNativeConvolutions(nativeConvolutions).withBfloat16(bf16);
  }
}
