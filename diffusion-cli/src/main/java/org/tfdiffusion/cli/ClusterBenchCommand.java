package org.tfdiffusion.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.train.ClusterBenchmark;
import org.tfdiffusion.train.ModelOptions;
import org.tfdiffusion.train.TrainConfig;
import org.tfdiffusion.train.TrainPreset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bench-cluster}: images/s of the training step in one process and on loopback clusters of
 * 1, 2, ... worker processes, and the time of the gradient exchange (see {@link ClusterBenchmark}).
 */
@Command(
    name = "bench-cluster",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Time data-parallel training on this machine: the training step in one process and on",
      "loopback clusters of worker processes (one JVM per task, train --cluster), with the time",
      "of one gradient exchange. All processes share this machine's cores: more processes only",
      "pay off with more machines; this measures the distributed runtime's cost."
    })
final class ClusterBenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ModelPreset preset;

  @Mixin ModelOptions model;

  @Option(
      names = "--tasks",
      split = ",",
      defaultValue = "1,2",
      description = "Cluster sizes to measure (default: ${DEFAULT-VALUE}).")
  List<Integer> tasks;

  @Option(names = "--no-local", description = "Skip the one-process run without a cluster.")
  boolean noLocal;

  @Option(
      names = "--batch",
      defaultValue = "32",
      description = "Images per step over all tasks (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(
      names = "--steps",
      defaultValue = "5",
      description =
          "Timed steps after one warm-up; the median is reported (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(
      names = "--xla",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description = "Compile with XLA JIT (default: on, as train; --no-xla turns it off).")
  boolean xla;

  @Option(names = "--json", description = "Also write the results to this JSON file.")
  Path json;

  @Override
  public Integer call() throws IOException, InterruptedException {
    for (int n : tasks) {
      if (n < 1 || batch % n != 0) {
        throw new IllegalArgumentException(
            "--tasks "
                + n
                + ": a cluster has >= 1 task and --batch "
                + batch
                + " must divide by it");
      }
    }
    UNetConfig config = model.apply(preset.base());
    TrainConfig base = TrainPreset.TUTORIAL.config();
    TrainConfig.Training t = base.training();
    TrainConfig train =
        base.withModel(config)
            .withConditioning(TrainConfig.Conditioning.none())
            .withTraining(
                new TrainConfig.Training(
                    steps, batch, 1, 0, 1, 0, 1, 0, 1, t.sampler(), t.samplerSteps()));
    PrintWriter out = spec.commandLine().getOut();
    out.printf("%s, batch %d, %d timed steps%n", config.describe(), batch, steps);
    out.flush();
    List<ClusterBenchmark.Measurement> results =
        ClusterBenchmark.compare(train, tasks, !noLocal, xla, steps, out);
    if (json != null) {
      new com.fasterxml.jackson.databind.ObjectMapper()
          .writerWithDefaultPrettyPrinter()
          .writeValue(json.toFile(), results);
      out.println("wrote " + json);
    }
    out.flush();
    return 0;
  }
}
