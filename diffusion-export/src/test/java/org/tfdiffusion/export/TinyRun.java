package org.tfdiffusion.export;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.Trainer;

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
        // train --preset demo --steps 2 --base-width 8 --levels 2 --batch-size 8 --quiet
        // --no-xla --sample-every 0 --sample-count 10
        TrainConfig demo = TrainPreset.DEMO.config();
        TrainConfig.Training t = demo.training();
        TrainConfig.Conditioning c = demo.conditioning();
        TrainConfig config =
            demo.withModel(demo.model().toBuilder().baseWidth(8).levels(2).build())
                .withTraining(
                    new TrainConfig.Training(
                        2,
                        8,
                        t.accumulation(),
                        t.seed(),
                        t.logEvery(),
                        t.checkpointEvery(),
                        t.keepCheckpoints(),
                        0,
                        10,
                        t.sampler(),
                        t.samplerSteps()))
                .withConditioning(
                    c.enabled()
                        ? new TrainConfig.Conditioning(true, c.pUncond(), c.guidance(), List.of())
                        : c);
        new Trainer(
                new PrintWriter(new StringWriter()),
                Trainer.Progress.QUIET,
                SessionOptions.defaults()
                    .withFlags(false, true, false)
                    .withNativeConvolutions(ConvKernels.parse("auto").resolve(false, false)))
            .train(r, config);
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
