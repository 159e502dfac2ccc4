package org.tfdiffusion.train.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.AttrValue;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.SessionOptions;

/**
 * Times the kernels a U-Net's time goes to, one op at a time, at the shapes of its levels: a 3×3
 * convolution in float32 and in bfloat16 (explicit casts included), the float32 convolution's two
 * gradients (input and filter, as the training step's backward pass runs them), and the matrix
 * product with the same FLOPs (the convolution's im2col form, [B·H·W, 9·C_in] × [9·C_in, C_out]).
 * It shows what a kernel reaches on this CPU in the runtime the session options choose (oneDNN by
 * default; Eigen with {@code TF_ENABLE_ONEDNN_OPTS=0}; XLA's with {@code --xla}), so that an
 * optimisation starts from the kernels' own ceiling.
 */
public final class KernelBenchmark {
  private KernelBenchmark() {}

  /** One measured kernel: median milliseconds and GFLOP/s. */
  public record Row(String kernel, String shape, double milliseconds, double gflopPerSecond) {}

  /** [batch, size, in, out]: the small model's first level, a middle level, the tutorial's 8×8. */
  public static final List<int[]> SHAPES =
      List.of(
          new int[] {16, 32, 64, 64},
          new int[] {16, 32, 128, 128},
          new int[] {16, 16, 256, 256},
          new int[] {32, 8, 1024, 1024});

  /** The kernels measured, each a one-op graph of x [B, H, W, C_in] and a float32 filter. */
  enum Kernel {
    CONV_FLOAT32("conv2d float32"),
    CONV_BFLOAT16("conv2d bfloat16"),
    CONV_BACKPROP_INPUT_FLOAT32("conv2d input gradient float32"),
    CONV_BACKPROP_FILTER_FLOAT32("conv2d filter gradient float32"),
    MATMUL_FLOAT32("matmul float32 (same FLOPs)");

    final String label;

    Kernel(String label) {
      this.label = label;
    }

    /**
     * The two input shapes: image and filter; the output's gradient and filter (input gradient);
     * image and the output's gradient (filter gradient); the im2col matrices for the matmul.
     */
    Shape[] inputs(int[] shape) {
      int b = shape[0];
      int h = shape[1];
      int in = shape[2];
      int out = shape[3];
      return switch (this) {
        case MATMUL_FLOAT32 ->
            new Shape[] {Shape.of((long) b * h * h, 9L * in), Shape.of(9L * in, out)};
        case CONV_BACKPROP_INPUT_FLOAT32 ->
            new Shape[] {Shape.of(b, h, h, out), Shape.of(3, 3, in, out)};
        case CONV_BACKPROP_FILTER_FLOAT32 ->
            new Shape[] {Shape.of(b, h, h, in), Shape.of(b, h, h, out)};
        default -> new Shape[] {Shape.of(b, h, h, in), Shape.of(3, 3, in, out)};
      };
    }

    Operand<?> build(Ops tf, Operand<TFloat32> x, Operand<TFloat32> k, int[] shape) {
      List<Long> strides = List.of(1L, 1L, 1L, 1L);
      return switch (this) {
        case CONV_BACKPROP_INPUT_FLOAT32 ->
            tf.nn.conv2dBackpropInput(
                tf.constant(new int[] {shape[0], shape[1], shape[1], shape[2]}),
                k,
                x,
                strides,
                "SAME");
        case CONV_BACKPROP_FILTER_FLOAT32 ->
            tf.nn.conv2dBackpropFilter(
                x, tf.constant(new int[] {3, 3, shape[2], shape[3]}), k, strides, "SAME");
        case CONV_FLOAT32 -> tf.nn.conv2d(x, k, strides, "SAME");
        case CONV_BFLOAT16 ->
            tf.dtypes.cast(
                tf.nn.conv2d(
                    tf.dtypes.cast(x, TBfloat16.class),
                    tf.dtypes.cast(k, TBfloat16.class),
                    strides,
                    "SAME"),
                TFloat32.class);
        case MATMUL_FLOAT32 -> tf.linalg.matMul(x, k);
      };
    }
  }

  /** Measures every kernel at every shape of {@link #SHAPES}, {@code repeats} timed runs each. */
  public static List<Row> run(SessionOptions options, int repeats) {
    List<Row> rows = new ArrayList<>();
    for (int[] s : SHAPES) {
      int b = s[0];
      int h = s[1];
      int in = s[2];
      int out = s[3];
      String shape = String.format("%dx%dx%dx%d -> %d", b, h, h, in, out);
      double gflop = 2.0 * 9 * in * out * h * h * b / 1e9;
      for (Kernel kernel : Kernel.values()) {
        double median = medianSeconds(kernel, s, options, repeats);
        rows.add(new Row(kernel.label, shape, median * 1e3, gflop / median));
      }
    }
    return rows;
  }

  private static double medianSeconds(
      Kernel kernel, int[] shape, SessionOptions options, int repeats) {
    Shape[] inputs = kernel.inputs(shape);
    try (Graph built = new Graph();
        Graph compiled = options.xla() ? new Graph() : null) {
      Ops tf = Ops.create(built);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(inputs[0]));
      Placeholder<TFloat32> k = tf.placeholder(TFloat32.class, Placeholder.shape(inputs[1]));
      String y = kernel.build(tf, x, k, shape).asOutput().op().name();
      Graph g = built;
      if (compiled != null) {
        compiled.importGraphDef(forceCompile(built.toGraphDef()));
        g = compiled;
      }
      Random random = new Random(0);
      try (Session session = new Session(g, options.toConfigProto());
          TFloat32 xt = gaussian(inputs[0], random);
          TFloat32 kt = gaussian(inputs[1], random)) {
        double[] seconds = new double[repeats];
        for (int i = -2; i < repeats; i++) {
          long start = System.nanoTime();
          try (var result =
              session.runner().feed(x.op().name(), xt).feed(k.op().name(), kt).fetch(y).run()) {
            // fetched, so that no runtime can prune the kernel; the handle is freed unread
          }
          if (i >= 0) {
            seconds[i] = (System.nanoTime() - start) * 1e-9;
          }
        }
        Arrays.sort(seconds);
        return seconds[repeats / 2];
      }
    }
  }

  /**
   * {@code def} with every op but the placeholders marked for XLA ({@code _XlaCompile}). XLA's
   * auto-clustering leaves clusters of fewer than four ops to the plain runtime, so a one-kernel
   * graph would otherwise time oneDNN's kernel under the name of XLA's.
   */
  static GraphDef forceCompile(GraphDef def) {
    GraphDef.Builder b = def.toBuilder();
    for (NodeDef.Builder node : b.getNodeBuilderList()) {
      if (!node.getOp().equals("Placeholder")) {
        node.putAttr("_XlaCompile", AttrValue.newBuilder().setB(true).build());
      }
    }
    return b.build();
  }

  private static TFloat32 gaussian(Shape shape, Random random) {
    float[] values = new float[Math.toIntExact(shape.size())];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) random.nextGaussian();
    }
    TFloat32 t = TFloat32.tensorOf(shape);
    t.copyFrom(DataBuffers.of(values));
    return t;
  }

  /** The rows as a markdown table. */
  public static String markdown(List<Row> rows) {
    StringBuilder s = new StringBuilder("| kernel | B×H×W×C_in -> C_out | ms | GFLOP/s |\n");
    s.append("|---|---|---|---|\n");
    for (Row r : rows) {
      s.append(
          String.format(
              "| %s | %s | %.2f | %.0f |%n",
              r.kernel(), r.shape(), r.milliseconds(), r.gflopPerSecond()));
    }
    return s.toString();
  }
}
