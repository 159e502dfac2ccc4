package org.tfdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The main job of a fresh clone: train the demo preset on the embedded Fashion-MNIST subset for a
 * few minutes, write sample grids, and say where everything is.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Train, sample and export a small Fashion-MNIST model in a few minutes; say where everything is.",
      "Train a small class-conditional U-Net on the embedded Fashion-MNIST subset for a "
          + "few minutes (the demo preset of train), write guided sample grids, export it to "
          + "saved_models/demo/VERSION for TensorFlow Serving, and print where everything is.",
    })
final class DemoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--steps", description = "Optimizer steps (default: the demo preset's 770).")
  Integer steps;

  @Option(names = "--run-dir", description = "The run folder (default: runs/demo-<time>).")
  Path runDir;

  @Option(
      names = "--base",
      defaultValue = "saved_models",
      description = "Where the model is exported (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(
      names = "--name",
      defaultValue = "demo",
      description = "The exported model's name (default: ${DEFAULT-VALUE}).")
  String name;

  @Option(names = "--no-export", description = "Train and sample only; do not export.")
  boolean noExport;

  @Mixin QuietOption quiet;

  @Override
  public Integer call() {
    TrainConfig config = TrainPreset.DEMO.config();
    if (steps != null) {
      TrainConfig.Training t = config.training();
      config =
          config.withTraining(
              t.toBuilder()
                  .steps(steps)
                  .checkpointEvery(Math.min(t.checkpointEvery(), steps))
                  .sampleEvery(Math.min(t.sampleEvery(), steps))
                  .build());
    }
    Path dir =
        runDir != null
            ? runDir
            : Path.of(
                "runs",
                "demo-"
                    + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    Trainer.Progress progress =
        quiet.quiet()
            ? Trainer.Progress.QUIET
            : System.console() != null ? Trainer.Progress.BAR : Trainer.Progress.LINES;
    PrintWriter out = spec.commandLine().getOut();
    // as train's default, --conv auto: oneDNN's convolutions where the library is built
    SessionOptions options =
        SessionOptions.training().withNativeConvolutions(ConvKernels.AUTO.resolve(false, false));
    new Trainer(out, progress, options).train(dir, config);
    if (!noExport) {
      SamplerKind kind = config.training().sampler();
      int samplerSteps = config.training().samplerSteps();
      ModelExporter.Exported exported =
          ModelExporter.export(
              dir,
              name,
              base,
              TrainedModel.Weights.EMA,
              kind.create(samplerSteps, 0),
              kind,
              n -> kind.create(n, 0),
              () -> {});
      out.printf(
          "  exported:     %s (version %d, %s %d steps, EMA weights)%n"
              + "  web page:     ./tfdiffusion serve --base %s --runs %s   then open"
              + " http://127.0.0.1:8501/%n"
              + "  sample it:    ./tfdiffusion sample --run %s --class Trouser,Bag%n",
          exported.directory(),
          exported.version(),
          label(kind),
          samplerSteps,
          base,
          dir.getParent() != null ? dir.getParent() : Path.of("."),
          dir);
    }
    Path shipped = Path.of("saved_models", "fashion-mnist");
    if (Files.isDirectory(shipped)) {
      out.printf(
          "  pretrained:   ./tfdiffusion sample --model %s   (a longer-trained Fashion-MNIST"
              + " model that ships in %s; see its README.md)%n",
          shipped, shipped);
    }
    return 0;
  }

  /** The sampler's name as papers and diffusers write it. */
  static String label(SamplerKind kind) {
    return switch (kind) {
      case DDPM -> "DDPM";
      case DDIM -> "DDIM";
      case DPMPP -> "DPM-Solver++";
      case DPMPP_SDE -> "SDE-DPM-Solver++";
      case DPM_SOLVER -> "DPM-Solver";
      case UNIPC -> "UniPC";
      case EULER -> "Euler";
      case EULER_ANCESTRAL -> "Euler ancestral";
      case HEUN -> "Heun";
      case LMS -> "LMS";
      case PNDM -> "PNDM (PLMS)";
      case DEIS -> "DEIS";
    };
  }
}
