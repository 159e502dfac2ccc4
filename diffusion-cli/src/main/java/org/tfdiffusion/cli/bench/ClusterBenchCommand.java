package org.tfdiffusion.cli.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import org.tfdiffusion.cli.ModelOptions;
import org.tfdiffusion.cli.ModelPreset;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.bench.ClusterBenchmark;
import org.tfdiffusion.train.bench.TrainStepBenchmark;
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
      "Time data-parallel training on loopback clusters of this machine.",
      "Time data-parallel training on this machine: the training step in one process "
          + "and on loopback clusters of worker processes (one JVM per task, train "
          + "--cluster), with the time of one gradient exchange. All processes share this "
          + "machine's cores: more processes only pay off with more machines; this measures "
          + "the distributed runtime's cost.",
    })
public final class ClusterBenchCommand implements Callable<Integer> {
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

  @Mixin TrainBenchOptions timing;

  @Override
  public Integer call() throws IOException, InterruptedException {
    for (int n : tasks) {
      if (n < 1 || timing.batch % n != 0) {
        throw new IllegalArgumentException(
            "--tasks "
                + n
                + ": a cluster has >= 1 task and --batch "
                + timing.batch
                + " must divide by it");
      }
    }
    UNetConfig config = model.apply(preset.base());
    TrainConfig base = TrainPreset.TUTORIAL.config();
    TrainConfig train = TrainStepBenchmark.config(base, config, timing.steps, timing.batch);
    PrintWriter out = spec.commandLine().getOut();
    out.printf("%s, batch %d, %d timed steps%n", config.describe(), timing.batch, timing.steps);
    out.flush();
    List<ClusterBenchmark.Measurement> results =
        ClusterBenchmark.compare(
            TrainCommand.class, train, tasks, !noLocal, timing.xla, timing.steps, out);
    if (timing.json != null) {
      new com.fasterxml.jackson.databind.ObjectMapper()
          .writerWithDefaultPrettyPrinter()
          .writeValue(timing.json.toFile(), results);
      out.println("wrote " + timing.json);
    }
    out.flush();
    return 0;
  }
}
