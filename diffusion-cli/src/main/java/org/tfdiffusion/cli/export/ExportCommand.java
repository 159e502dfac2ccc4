package org.tfdiffusion.cli.export;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tfdiffusion.cli.NamedOption;
import org.tfdiffusion.cli.SamplerOptions;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code export}: a trained run as a SavedModel for TensorFlow Serving. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Export a trained run as a SavedModel for TensorFlow Serving.",
      "Export a trained run as a SavedModel in TensorFlow Serving's layout, "
          + "BASE/NAME/VERSION/ (the next version; written to a hidden folder and renamed "
          + "into place), with signatures serving_default (seed -> images, images_png_bytes), "
          + "sample (num_steps, and eta for DDIM, per request), denoise, img2img (images and "
          + "strength) and inpaint (images, mask and strength); also writes "
          + "BASE/models.config.",
    })
public final class ExportCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--run", required = true, description = "A run folder, or a checkpoint folder.")
  Path run;

  @Option(names = "--name", description = "The model name (default: the run folder's name).")
  String name;

  @Option(
      names = "--base",
      defaultValue = "saved_models",
      description = "The serving base path (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(
      names = "--weights",
      defaultValue = "ema",
      converter = NamedOption.Weights.class,
      completionCandidates = NamedOption.Weights.class,
      description = "ema or raw (default: ${DEFAULT-VALUE}).")
  TrainedModel.Weights weights;

  @Option(
      names = "--guidance",
      description =
          "Class-conditional models: the export's default guidance scale, which the web page and"
              + " sample --model start from (default: the run's).")
  Double guidance;

  @Mixin SamplerOptions sampler;

  @Override
  public Integer call() {
    if (!Files.exists(run)) {
      throw new IllegalArgumentException(
          run + " does not exist; give a run folder or a checkpoint");
    }
    Path runDir = Checkpoints.resolve(run).runDir();
    TrainConfig config = RunDirectory.open(runDir).config();
    sampler = sampler.forModel(config);
    int timesteps = config.noiseSchedule().timesteps();
    String modelName =
        name != null ? name : runDir.toAbsolutePath().normalize().getFileName().toString();
    PrintWriter out = spec.commandLine().getOut();
    long start = System.nanoTime();
    ModelExporter.Exported exported =
        ModelExporter.export(
            run,
            modelName,
            base,
            weights,
            sampler.build(timesteps),
            sampler.kind(),
            n -> sampler.build(timesteps, n),
            guidance,
            () -> {});
    out.printf(
        "exported %s version %d (%s, %s) in %.1f s%n  %s%n  serve it: ./tfdiffusion serve --base %s%n",
        exported.name(),
        exported.version(),
        exported.plan().name(),
        weights.configName() + " weights",
        (System.nanoTime() - start) / 1e9,
        exported.directory(),
        base);
    return 0;
  }
}
