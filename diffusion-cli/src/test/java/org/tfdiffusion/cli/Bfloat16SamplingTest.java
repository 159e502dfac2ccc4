package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.testing.NativeOps;
import picocli.CommandLine;

/**
 * What {@code sample --bf16} trades: the shipped Fashion-MNIST model's images drawn with oneDNN's
 * bfloat16 convolutions against the same seeds in float32, pixel by pixel. The bound is the one the
 * docs state (docs/performance.md, "Sampling").
 */
class Bfloat16SamplingTest {
  private static final Path SHIPPED = Path.of("..", "saved_models", "fashion-mnist");

  @TempDir Path dir;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private void sample(Path outDir, String... more) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "sample",
                "--model",
                SHIPPED.toString(),
                "-n",
                "2",
                "--seed",
                "5",
                "--quiet",
                "--out",
                outDir.resolve("grid.png").toString(),
                "--out-dir",
                outDir.toString()));
    args.addAll(List.of(more));
    assertThat(cli.execute(args.toArray(String[]::new))).as(err.toString()).isZero();
  }

  private static boolean cpuHasBfloat16() throws Exception {
    Path cpuinfo = Path.of("/proc/cpuinfo");
    if (!Files.isReadable(cpuinfo)) {
      return false;
    }
    String flags = Files.readString(cpuinfo);
    return flags.contains("avx512_bf16") || flags.contains("amx_bf16");
  }

  @Test
  void bfloat16ImagesStayWithinAFewLevelsOfFloat32s() throws Exception {
    NativeOps.assumeNativeConv();
    Assumptions.assumeTrue(
        cpuHasBfloat16(), "this CPU has no AVX512_BF16 or AMX: bfloat16 kernels are emulated");
    Path f32 = Files.createDirectories(dir.resolve("f32"));
    Path bf16 = Files.createDirectories(dir.resolve("bf16"));
    sample(f32);
    sample(bf16, "--bf16");
    List<Path> images;
    try (Stream<Path> files = Files.list(f32)) {
      images = files.filter(p -> p.getFileName().toString().startsWith("class-")).sorted().toList();
    }
    assertThat(images).as("one PNG per image, 2 per class").hasSize(20);
    int max = 0;
    long sum = 0;
    long differing = 0;
    long pixels = 0;
    for (Path a : images) {
      BufferedImage x = ImageIO.read(a.toFile());
      BufferedImage y = ImageIO.read(bf16.resolve(a.getFileName()).toFile());
      assertThat(y.getWidth()).isEqualTo(x.getWidth());
      for (int r = 0; r < x.getHeight(); r++) {
        for (int c = 0; c < x.getWidth(); c++) {
          int d = Math.abs((x.getRGB(c, r) & 0xff) - (y.getRGB(c, r) & 0xff));
          max = Math.max(max, d);
          sum += d;
          differing += d > 0 ? 1 : 0;
          pixels++;
        }
      }
    }
    // bfloat16 ran (some pixels moved) and drew the same images: no pixel off by more than 24 of
    // 255, on average well under one level
    assertThat(differing).as("pixels that differ: the bfloat16 kernels ran").isPositive();
    assertThat(max).as("largest pixel difference (of 255)").isLessThanOrEqualTo(24);
    assertThat((double) sum / pixels).as("mean pixel difference (of 255)").isLessThan(1.0);
  }
}
