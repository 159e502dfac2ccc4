package org.tfdiffusion.train.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.StepProfile;

class KernelBenchmarkTest {
  @Test
  void measuresEveryKernelAtEveryShape() {
    List<KernelBenchmark.Row> rows = KernelBenchmark.run(SessionOptions.defaults(), 1);
    assertThat(rows).hasSize(5 * KernelBenchmark.SHAPES.size());
    assertThat(rows)
        .allSatisfy(
            r -> {
              assertThat(r.milliseconds()).isPositive().isFinite();
              assertThat(r.gflopPerSecond()).isPositive().isFinite();
            });
    assertThat(rows.stream().map(KernelBenchmark.Row::kernel).distinct())
        .containsExactly(
            "conv2d float32",
            "conv2d bfloat16",
            "conv2d input gradient float32",
            "conv2d filter gradient float32",
            "matmul float32 (same FLOPs)");
  }

  @Test
  void xlaModeMarksEveryOpButThePlaceholdersForCompilation() {
    // without the mark, XLA's auto-clustering leaves a one-op graph to oneDNN's kernel
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
      tf.math.mul(x, tf.constant(2f));
      GraphDef marked = KernelBenchmark.forceCompile(g.toGraphDef());
      assertThat(marked.getNodeList())
          .hasSize(3)
          .allSatisfy(
              n -> {
                boolean placeholder = n.getOp().equals("Placeholder");
                assertThat(n.getAttrMap().containsKey("_XlaCompile"))
                    .as(n.getName())
                    .isEqualTo(!placeholder);
                if (!placeholder) {
                  assertThat(n.getAttrMap().get("_XlaCompile").getB()).as(n.getName()).isTrue();
                }
              });
    }
  }

  @Test
  void aMarkedOneOpGraphRunsInXlaAndAnUnmarkedOneDoesNot() {
    try (Graph built = new Graph();
        Graph marked = new Graph()) {
      Ops tf = Ops.create(built);
      Placeholder<TFloat32> x = tf.withName("x").placeholder(TFloat32.class);
      String y = tf.math.mul(x, tf.constant(2f)).op().name();
      marked.importGraphDef(KernelBenchmark.forceCompile(built.toGraphDef()));
      assertThat(opTypesRun(built, y)).contains("Mul").doesNotContain("_XlaRun");
      assertThat(opTypesRun(marked, y)).contains("_XlaRun").doesNotContain("Mul");
    }
  }

  private static List<String> opTypesRun(Graph g, String fetch) {
    try (Session s = new Session(g, SessionOptions.defaults().withXla(true).toConfigProto());
        TFloat32 x = TFloat32.vectorOf(1f, 2f, 3f)) {
      return StepProfile.trace(s, s.runner().feed("x", x).fetch(fetch)).rows().stream()
          .map(StepProfile.Row::opType)
          .toList();
    }
  }

  @Test
  void markdownListsEachKernelWithItsThroughput() {
    String table =
        KernelBenchmark.markdown(
            List.of(new KernelBenchmark.Row("conv2d float32", "16x32x32x64 -> 64", 7.5, 161.1)));
    assertThat(table)
        .contains("| kernel | B×H×W×C_in -> C_out | ms | GFLOP/s |")
        .contains("| conv2d float32 | 16x32x32x64 -> 64 | 7.50 | 161 |");
  }
}
