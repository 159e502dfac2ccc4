package org.tfdiffusion.cli.bench;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The options that {@code bench} and {@code bench-cluster} share: how the training step is timed.
 */
final class TrainBenchOptions {
  @Option(
      names = "--batch",
      defaultValue = "32",
      description =
          "Training batch: images per step, over all tasks of a cluster (default: ${DEFAULT-VALUE}).")
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
}
