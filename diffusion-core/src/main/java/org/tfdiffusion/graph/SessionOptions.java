package org.tfdiffusion.graph;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Map;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RewriterConfig;

/**
 * How TensorFlow runs a graph on this machine: threads, XLA JIT, bfloat16 auto mixed precision and
 * the CPU layout rewrite. Turned into a {@link ConfigProto} for {@code new Session(graph, config)}.
 *
 * @param intraOpThreads threads inside one op; 0 = TensorFlow's default (all cores)
 * @param interOpThreads ops run in parallel; 0 = TensorFlow's default
 * @param xla compile clusters of ops with XLA (global JIT level ON_1). On the CPU this reaches all
 *     clusters only when the process has {@code TF_XLA_FLAGS=--tf_xla_cpu_global_jit} in its
 *     environment (the launcher sets it; {@link #xlaFlagMissing()} tells); setting the same flag
 *     through the C API at run time clusters only part of the graph
 * @param bfloat16 let oneDNN's auto mixed precision rewrite run eligible ops in bfloat16; with
 *     native convolutions in an inference graph, their bfloat16 kernels instead (see {@link
 *     org.tfdiffusion.nn.NetScope#withBfloat16Convolutions}), and no rewrite
 * @param nchw ask Grappler to convert NHWC convolutions to NCHW on the CPU
 * @param nativeConvolutions build the k×k convolutions of graphs that honour it (training,
 *     sampling) from {@link org.tfdiffusion.nn.NativeConv}'s oneDNN ops instead of TensorFlow's
 *     {@code Conv2D}
 */
public record SessionOptions(
    int intraOpThreads,
    int interOpThreads,
    boolean xla,
    boolean bfloat16,
    boolean nchw,
    boolean nativeConvolutions) {

  /** TF_XLA_FLAGS' flag that lets XLA reach every CPU cluster. */
  public static final String GLOBAL_JIT_FLAG = "--tf_xla_cpu_global_jit";

  /** XLA_FLAGS' flag for LLVM fast math in XLA's CPU code (NaN, Inf, division stay exact). */
  public static final String FAST_MATH_FLAG = "--xla_cpu_enable_fast_math=true";

  /**
   * The environment a JVM that runs XLA needs, as the launcher sets it: variable -> value. XLA
   * reads both when the process first uses it, so they cannot be set from Java once running.
   */
  public static final Map<String, String> XLA_ENVIRONMENT =
      Map.of("TF_XLA_FLAGS", GLOBAL_JIT_FLAG, "XLA_FLAGS", FAST_MATH_FLAG);

  public SessionOptions {
    checkArgument(intraOpThreads >= 0, "intra-op threads must be >= 0 (0 = default)");
    checkArgument(interOpThreads >= 0, "inter-op threads must be >= 0 (0 = default)");
  }

  /** TensorFlow's defaults. */
  public static SessionOptions defaults() {
    return new SessionOptions(0, 0, false, false, false, false);
  }

  /**
   * The fastest sound setting measured for training on this project's 2-core CPU: float32 with XLA
   * JIT (default config, batch 32: 8.8 s per step against 15.7 s without; see README).
   */
  public static SessionOptions training() {
    return defaults().withXla(true);
  }

  /**
   * The fastest sound setting measured for sampling on this project's 2-core CPU: float32 with XLA
   * JIT. XLA's convolutions beat oneDNN's at every width of these U-Nets, so one denoising forward
   * pass of the tutorial's model at batch 16 takes 1.05 s against 3.36 s without, the small model's
   * 0.20 s against 0.35 s, and the compiled loop's steps are no slower (README, Speed). Samples
   * agree with the plain runtime's to within XLA's float reassociation (at most 4/255 per pixel
   * over a 20-step DPM-Solver++ run); a seed gives the same image every time under either.
   */
  public static SessionOptions sampling() {
    return defaults().withXla(true);
  }

  /**
   * These options with XLA and bfloat16 as a command's flags ask for them. bfloat16 is oneDNN's
   * rewrite, and XLA's clusters take the ops it would convert, so together they run float32: {@code
   * --bf16} therefore turns XLA's default off, and XLA stays on only where {@code --xla} was given
   * explicitly too.
   *
   * @param xla the XLA flag's value, default included
   * @param xlaExplicit whether the user gave the XLA flag
   * @param bfloat16 the bfloat16 flag
   */
  public SessionOptions withFlags(boolean xla, boolean xlaExplicit, boolean bfloat16) {
    return withXla(xla && (!bfloat16 || xlaExplicit)).withBfloat16(bfloat16);
  }

  public SessionOptions withXla(boolean on) {
    return new SessionOptions(
        intraOpThreads, interOpThreads, on, bfloat16, nchw, nativeConvolutions);
  }

  public SessionOptions withBfloat16(boolean on) {
    return new SessionOptions(intraOpThreads, interOpThreads, xla, on, nchw, nativeConvolutions);
  }

  public SessionOptions withNchw(boolean on) {
    return new SessionOptions(
        intraOpThreads, interOpThreads, xla, bfloat16, on, nativeConvolutions);
  }

  public SessionOptions withThreads(int intra, int inter) {
    return new SessionOptions(intra, inter, xla, bfloat16, nchw, nativeConvolutions);
  }

  public SessionOptions withNativeConvolutions(boolean on) {
    return new SessionOptions(intraOpThreads, interOpThreads, xla, bfloat16, nchw, on);
  }

  /**
   * The root scope of an inference graph built under these options: oneDNN's convolutions where
   * {@link #nativeConvolutions} asks for them, keeping their filters reordered within a run, and
   * their bfloat16 kernels too with {@link #bfloat16}.
   */
  public org.tfdiffusion.nn.NetScope inferenceScope(
      org.tensorflow.op.Ops tf, org.tfdiffusion.nn.Parameters weights) {
    return org.tfdiffusion.nn.NetScope.inference(tf, weights)
        .withNativeConvolutions(nativeConvolutions)
        .withKeptFilters(nativeConvolutions)
        .withBfloat16Convolutions(nativeConvolutions && bfloat16);
  }

  /** Whether XLA is asked for but the CPU global-JIT flag is missing from the environment. */
  public boolean xlaFlagMissing() {
    String flags = System.getenv("TF_XLA_FLAGS");
    return xla && (flags == null || !flags.contains(GLOBAL_JIT_FLAG));
  }

  /** The session configuration. */
  public ConfigProto toConfigProto() {
    RewriterConfig.Builder rewrite = RewriterConfig.newBuilder();
    if (bfloat16 && !nativeConvolutions) {
      rewrite.setAutoMixedPrecisionMkl(RewriterConfig.Toggle.ON);
    }
    if (nchw) {
      rewrite.setCpuLayoutConversion(RewriterConfig.CpuLayout.NHWC_TO_NCHW);
    }
    OptimizerOptions.Builder optimizer = OptimizerOptions.newBuilder();
    if (xla) {
      optimizer.setGlobalJitLevel(OptimizerOptions.GlobalJitLevel.ON_1).setCpuGlobalJit(true);
    }
    ConfigProto.Builder config =
        ConfigProto.newBuilder()
            .setGraphOptions(
                GraphOptions.newBuilder()
                    .setRewriteOptions(rewrite)
                    .setOptimizerOptions(optimizer));
    if (intraOpThreads > 0) {
      config.setIntraOpParallelismThreads(intraOpThreads);
    }
    if (interOpThreads > 0) {
      config.setInterOpParallelismThreads(interOpThreads);
    }
    return config.build();
  }

  /** A short description for logs, e.g. {@code float32, xla}. */
  public String describe() {
    StringBuilder s =
        new StringBuilder(
            !bfloat16
                ? "float32"
                : nativeConvolutions ? "bfloat16 convolutions" : "bfloat16 mixed precision");
    if (xla) {
      s.append(", XLA JIT");
      String flags = System.getenv("XLA_FLAGS");
      if (flags != null && flags.contains(FAST_MATH_FLAG)) {
        s.append(" (fast math)");
      }
    }
    if (nchw) {
      s.append(", NCHW rewrite");
    }
    if (nativeConvolutions) {
      s.append(", oneDNN convolutions (Winograd ")
          .append(org.tfdiffusion.nn.NativeConv.winograd())
          .append(')');
    }
    if (intraOpThreads > 0 || interOpThreads > 0) {
      s.append(", threads ").append(intraOpThreads).append('/').append(interOpThreads);
    }
    return s.toString();
  }
}
