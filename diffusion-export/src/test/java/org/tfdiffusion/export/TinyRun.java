package org.tfdiffusion.export;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.TrainCommand;

/**
 * A 2-step run of a tiny class-conditional model (28x28x1, width 8, 2 levels, 10 classes) on the
 * embedded data, trained once per test JVM and shared by the export and serving tests.
 */
public final class TinyRun {
  /** The steps of serving_default in {@link #export} (DPM-Solver++). */
  public static final int STEPS = 4;

  private static Path run;

  private TinyRun() {}

  /** The run folder (trained on first use). */
  public static synchronized Path get() {
    if (run == null) {
      try {
        Path dir = Files.createTempDirectory("tfdiffusion-tiny-run-");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(dir)));
        Path r = dir.resolve("run");
        var cli = TrainCommand.commandLine(new TrainCommand());
        cli.setOut(new PrintWriter(new StringWriter()));
        assertThat(
                cli.execute(
                    "--preset",
                    "demo",
                    "--steps",
                    "2",
                    "--base-width",
                    "8",
                    "--levels",
                    "2",
                    "--batch-size",
                    "8",
                    "--run-dir",
                    r.toString(),
                    "--quiet",
                    "--no-xla",
                    "--sample-every",
                    "0",
                    "--sample-count",
                    "10"))
            .isZero();
        run = r;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return run;
  }

  /** Exports the run as {@code name} under {@code base} with DPM-Solver++ and {@link #STEPS}. */
  public static ModelExporter.Exported export(Path base, String name, Runnable beforeRename) {
    return ModelExporter.export(
        get(),
        name,
        base,
        TrainedModel.Weights.EMA,
        DpmSolverPlusPlusSampler.of(STEPS),
        SamplerKind.DPMPP,
        DpmSolverPlusPlusSampler::of,
        beforeRename);
  }

  /** Deletes a folder tree, ignoring failures. */
  public static void deleteQuietly(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      // best effort
    }
  }
}
