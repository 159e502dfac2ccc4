package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tfdiffusion.graph.SessionOptions;

class KernelBenchmarkTest {
  @Test
  void measuresEveryKernelAtEveryShape() {
    List<KernelBenchmark.Row> rows = KernelBenchmark.run(SessionOptions.defaults(), 1);
    assertThat(rows).hasSize(3 * KernelBenchmark.SHAPES.size());
    assertThat(rows)
        .allSatisfy(
            r -> {
              assertThat(r.milliseconds()).isPositive().isFinite();
              assertThat(r.gflopPerSecond()).isPositive().isFinite();
            });
    assertThat(rows.stream().map(KernelBenchmark.Row::kernel).distinct())
        .containsExactly("conv2d float32", "conv2d bfloat16", "matmul float32 (same FLOPs)");
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
