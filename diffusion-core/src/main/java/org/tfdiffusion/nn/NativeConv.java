package org.tfdiffusion.nn;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.op.Scope;
import org.tensorflow.types.TFloat32;

/**
 * oneDNN's convolution kernels as TensorFlow ops ({@code TfdConv2D}, {@code TfdConv2DStride2} and
 * their gradients {@code TfdConv2DBackprop}, {@code TfdConv2DStride2Backprop}: input, filter and
 * bias gradients in one op), from the native library {@code libtfdconv.so} that
 * diffusion-core/src/main/native/build.sh builds where g++ and oneDNN are installed (Debian/Ubuntu:
 * {@code apt-get install g++ libdnnl-dev}).
 *
 * <p>The library is looked for at {@value #PATH_PROPERTY} (a system property) or {@value #PATH_ENV}
 * (an environment variable), else next to the classes of this module ({@code
 * diffusion-core/target/native/}). Where it is missing or does not load, {@link #available()} is
 * false with {@link #unavailableReason()} saying why, and layers use TensorFlow's {@code Conv2D}.
 * The launcher copies the library with the jars and names it in {@value #PATH_ENV}.
 */
public final class NativeConv {
  /** System property naming the library file. */
  public static final String PATH_PROPERTY = "tfdiffusion.nativeConv";

  /** Environment variable naming the library file. */
  public static final String PATH_ENV = "TFDIFFUSION_NATIVE_CONV";

  /**
   * Where the ops run oneDNN's Winograd kernels: {@code auto} (the default: float32 3×3 stride-1
   * convolutions whose memory fits a budget), {@code all}, {@code off}. The library reads it.
   */
  public static final String WINOGRAD_ENV = "TFDIFFUSION_WINOGRAD";

  /** The forward op's type at stride 1; {@code TfdConv2DStride2} at stride 2. */
  public static final String OP = "TfdConv2D";

  /** The gradient ops' types: the forward op's and this suffix. */
  public static final String GRADIENT_SUFFIX = "Backprop";

  private static final String FILE = "libtfdconv.so";

  private static Optional<String> failure;

  private NativeConv() {}

  /** Whether the ops are loaded (loads them on the first call). */
  public static synchronized boolean available() {
    if (failure == null) {
      failure = load();
    }
    return failure.isEmpty();
  }

  /** Why the ops are not available; empty when they are. */
  public static synchronized Optional<String> unavailableReason() {
    available();
    return failure;
  }

  /**
   * The convolution of x [B, H, W, in] with an odd k×k filter [k, k, in, out] plus bias [out], at
   * stride 1 or 2 with PyTorch's padding (k - 1) / 2 on every side (at stride 1, {@code Conv2D(x,
   * filter, [1, 1, 1, 1], "SAME") + bias}), with its gradient.
   *
   * @throws IllegalStateException where the library is not available
   */
  public static Operand<TFloat32> conv2d(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> filter, Operand<TFloat32> bias, int stride) {
    return conv2d(tf, x, filter, bias, stride, false, false);
  }

  /**
   * {@link #conv2d(Ops, Operand, Operand, Operand, int)}, for inference:
   *
   * <p>{@code bfloat16} rounds the input and the filter to bfloat16 for oneDNN's bfloat16 kernels
   * (AMX or AVX512_BF16 where the CPU has them; accumulation, bias and output stay float32). Its
   * gradient is the float32 one.
   *
   * <p>{@code keepFilter}, for a model's weight: the kernel keeps the filter in oneDNN's layout and
   * reorders it once per {@code Session.run} rather than once per call (a sampling loop calls it
   * every step). The filter must be the same tensor every time the op runs within one run. The kept
   * copies cost about the filters' size in memory while the session samples; the first call of an
   * op without it (a training step) frees them.
   */
  public static Operand<TFloat32> conv2d(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TFloat32> filter,
      Operand<TFloat32> bias,
      int stride,
      boolean bfloat16,
      boolean keepFilter) {
    return conv2d(tf, x, filter, bias, stride, bfloat16, keepFilter, true);
  }

  /**
   * {@link #conv2d(Ops, Operand, Operand, Operand, int, boolean, boolean)}; {@code winograd} false
   * keeps oneDNN's direct kernels where its Winograd kernels would run (float32 3×3 at stride 1,
   * within their memory budget: see {@code docs/performance.md}), for this op and its gradient.
   */
  public static Operand<TFloat32> conv2d(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TFloat32> filter,
      Operand<TFloat32> bias,
      int stride,
      boolean bfloat16,
      boolean keepFilter,
      boolean winograd) {
    if (!available()) {
      throw new IllegalStateException(
          "the oneDNN convolution ops are not available: " + failure.orElse(""));
    }
    winograd(); // a mistyped setting fails here, before the library would read it as auto
    Scope scope = tf.scope();
    GraphOperation op =
        (GraphOperation)
            scope
                .apply(scope.opBuilder(opType(stride), opType(stride)).addInput(x.asOutput()))
                .addInput(filter.asOutput())
                .addInput(bias.asOutput())
                .setAttr("bf16", bfloat16)
                .setAttr("keep_filter", keepFilter)
                .setAttr("winograd", winograd)
                .build();
    return op.output(0);
  }

  /**
   * {@link #WINOGRAD_ENV}'s setting: {@code auto}, {@code all} or {@code off}.
   *
   * @throws IllegalArgumentException for any other value, naming the ones it takes
   */
  public static String winograd() {
    return winograd(System.getenv(WINOGRAD_ENV));
  }

  static String winograd(String value) {
    if (value == null || value.isEmpty() || value.equals("auto")) {
      return "auto";
    }
    if (value.equals("all") || value.equals("off")) {
      return value;
    }
    if (value.equals("0")) {
      return "off";
    }
    throw new IllegalArgumentException(
        WINOGRAD_ENV + "=" + value + " is not a setting: use auto, all or off (or unset it)");
  }

  private static Optional<String> load() {
    String configured = System.getProperty(PATH_PROPERTY, System.getenv(PATH_ENV));
    boolean named = configured != null && !configured.isBlank();
    Optional<Path> file =
        (named ? Optional.of(Path.of(configured)) : defaultLocation()).filter(Files::isRegularFile);
    if (file.isEmpty()) {
      return Optional.of(
          (named
                  ? "no file " + configured + " (" + PATH_PROPERTY + " / " + PATH_ENV + ")"
                  : FILE + " was not built")
              + "; it needs g++ and oneDNN: apt-get install g++ libdnnl-dev, then rebuild");
    }
    try {
      TensorFlow.loadLibrary(file.get().toAbsolutePath().toString());
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      return Optional.of("loading " + file.get() + " failed: " + e.getMessage());
    }
    for (int stride : new int[] {1, 2}) {
      String gradientType = opType(stride) + GRADIENT_SUFFIX;
      TensorFlow.registerCustomGradient(
          opType(stride),
          (tf, op, gradients) -> {
            Scope scope = tf.scope();
            GraphOperation backprop =
                (GraphOperation)
                    scope
                        .apply(scope.opBuilder(gradientType, gradientType))
                        .addInput(op.input(0))
                        .addInput(op.input(1))
                        .addInput(gradients.get(0))
                        .setAttr("winograd", op.attributes().getAttrBool("winograd"))
                        .build();
            return List.of(backprop.output(0), backprop.output(1), backprop.output(2));
          });
    }
    return Optional.empty();
  }

  private static String opType(int stride) {
    if (stride != 1 && stride != 2) {
      throw new IllegalArgumentException("stride must be 1 or 2, got " + stride);
    }
    return stride == 1 ? OP : OP + "Stride2";
  }

  /** diffusion-core/target/native/libtfdconv.so, beside target/classes or the module's jar. */
  private static Optional<Path> defaultLocation() {
    try {
      var source = NativeConv.class.getProtectionDomain().getCodeSource();
      if (source == null) {
        return Optional.empty();
      }
      Path classes = Path.of(source.getLocation().toURI());
      Path target = classes.getParent();
      return target == null
          ? Optional.empty()
          : Optional.of(target.resolve("native").resolve(FILE));
    } catch (Exception e) {
      return Optional.empty();
    }
  }
}
