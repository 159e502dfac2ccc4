package org.tfdiffusion.graph;

import static com.google.common.base.Preconditions.checkArgument;

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
 * @param xla compile clusters of ops with XLA (global JIT level ON_1 and the CPU JIT flag)
 * @param bfloat16 let oneDNN's auto mixed precision rewrite run eligible ops in bfloat16
 * @param nchw ask Grappler to convert NHWC convolutions to NCHW on the CPU
 */
public record SessionOptions(
    int intraOpThreads, int interOpThreads, boolean xla, boolean bfloat16, boolean nchw) {

  public SessionOptions {
    checkArgument(intraOpThreads >= 0, "intra-op threads must be >= 0 (0 = default)");
    checkArgument(interOpThreads >= 0, "inter-op threads must be >= 0 (0 = default)");
  }

  /** TensorFlow's defaults. */
  public static SessionOptions defaults() {
    return new SessionOptions(0, 0, false, false, false);
  }

  public SessionOptions withXla(boolean on) {
    return new SessionOptions(intraOpThreads, interOpThreads, on, bfloat16, nchw);
  }

  public SessionOptions withBfloat16(boolean on) {
    return new SessionOptions(intraOpThreads, interOpThreads, xla, on, nchw);
  }

  public SessionOptions withNchw(boolean on) {
    return new SessionOptions(intraOpThreads, interOpThreads, xla, bfloat16, on);
  }

  public SessionOptions withThreads(int intra, int inter) {
    return new SessionOptions(intra, inter, xla, bfloat16, nchw);
  }

  /** The session configuration. */
  public ConfigProto toConfigProto() {
    RewriterConfig.Builder rewrite = RewriterConfig.newBuilder();
    if (bfloat16) {
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
    StringBuilder s = new StringBuilder(bfloat16 ? "bfloat16 mixed precision" : "float32");
    if (xla) {
      s.append(", XLA JIT");
    }
    if (nchw) {
      s.append(", NCHW rewrite");
    }
    if (intraOpThreads > 0 || interOpThreads > 0) {
      s.append(", threads ").append(intraOpThreads).append('/').append(interOpThreads);
    }
    return s.toString();
  }
}
