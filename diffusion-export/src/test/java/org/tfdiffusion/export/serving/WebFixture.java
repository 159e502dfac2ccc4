package org.tfdiffusion.export.serving;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.tfdiffusion.export.TinyRun;

/**
 * What the web page tests serve, made once per test JVM: the tiny export as model {@code fashion}
 * and a folder of runs:
 *
 * <pre>
 *   runs/demo-run/    config.json (the tiny run's), metrics.csv (30 rows, falling loss),
 *                     samples/step-000100.png, -000200, -000300 (distinct 28x28 grids),
 *                     samples/notes.txt and samples/step-000999.png (a link to a file outside)
 *   runs/empty-run/   config.json only (older than demo-run)
 *   runs/notes/       no config.json or metrics.csv: not a run
 *   runs/secret.txt   a file next to the runs that must never be served
 * </pre>
 */
final class WebFixture {
  static final String SECRET = "not for the web";
  static final int ROWS = 30;
  static final long[] SAMPLE_STEPS = {100, 200, 300};

  private static Path base;
  private static Path runs;

  private WebFixture() {}

  /** The models folder, with {@code fashion} version 1 (DPM-Solver++, 4 steps). */
  static synchronized Path base() {
    if (base == null) {
      try {
        Path dir = Files.createTempDirectory("tfdiffusion-web-");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> TinyRun.deleteQuietly(dir)));
        Path models = dir.resolve("models");
        TinyRun.export(models, "fashion", () -> {});
        runs = makeRuns(dir.resolve("runs"));
        base = models;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return base;
  }

  /** The folder of runs (see the class comment). */
  static synchronized Path runs() {
    base();
    return runs;
  }

  private static Path makeRuns(Path runs) throws IOException {
    Path demo = runs.resolve("demo-run");
    Files.createDirectories(demo.resolve("samples"));
    Files.copy(TinyRun.get().resolve("config.json"), demo.resolve("config.json"));
    StringBuilder csv =
        new StringBuilder("step,epoch,loss,learning_rate,grad_norm,images_per_second,elapsed_s\n");
    for (int i = 1; i <= ROWS; i++) {
      double loss = 0.03 + 0.9 * Math.exp(-i / 5.0) + 0.01 * Math.sin(i);
      csv.append(
          String.format(Locale.ROOT, "%d,0,%.6f,0.002,1.5,30.0,%.1f%n", i * 10, loss, i * 1.1));
    }
    Files.writeString(demo.resolve("metrics.csv"), csv, StandardCharsets.UTF_8);
    for (long step : SAMPLE_STEPS) {
      BufferedImage grid = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
      for (int y = 0; y < 28; y++) {
        for (int x = 0; x < 28; x++) {
          grid.getRaster().setSample(x, y, 0, (int) ((x * step / 10 + y * 7) % 256));
        }
      }
      ImageIO.write(
          grid, "png", demo.resolve(String.format("samples/step-%06d.png", step)).toFile());
    }
    Files.writeString(demo.resolve("samples/notes.txt"), "not a sample");
    Files.writeString(runs.resolve("secret.txt"), SECRET);
    try {
      Files.createSymbolicLink(
          demo.resolve("samples/step-000999.png"), runs.resolve("secret.txt").toAbsolutePath());
    } catch (UnsupportedOperationException | IOException e) {
      // no symbolic links on this file system: that case is not tested
    }

    Path empty = runs.resolve("empty-run");
    Files.createDirectories(empty);
    Files.copy(TinyRun.get().resolve("config.json"), empty.resolve("config.json"));
    Files.setLastModifiedTime(
        empty.resolve("config.json"), FileTime.from(Instant.parse("2020-01-01T00:00:00Z")));
    Files.createDirectories(runs.resolve("notes"));
    Files.writeString(runs.resolve("notes/readme.txt"), "not a run");
    return runs;
  }
}
