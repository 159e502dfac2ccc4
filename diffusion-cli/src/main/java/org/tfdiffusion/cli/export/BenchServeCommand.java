package org.tfdiffusion.cli.export;

import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import org.tfdiffusion.export.serving.BatchingOptions;
import org.tfdiffusion.export.serving.ModelRegistry;
import org.tfdiffusion.export.serving.PredictRequest;
import org.tfdiffusion.export.serving.ServerLog;
import org.tfdiffusion.export.serving.bench.ConcurrencyBenchmark;
import org.tfdiffusion.export.serving.bench.ServeBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code bench-serve}: serving_default through the REST server vs in-process. */
@Command(
    name = "bench-serve",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Time serving_default through the REST server and in-process.",
      "",
      "The server runs in this process on a free port and is called by a real HTTP "
          + "client (JSON both ways), alternating with calls of the same loaded SavedModel "
          + "in-process: median and p90 latency and images/s per batch size, as a markdown "
          + "table (and --json).",
      "",
      "Needs an export: ./tfdiffusion demo (or train), then",
      "  ./tfdiffusion export --run runs/demo-... --name demo",
      "",
    })
public final class BenchServeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--base",
      defaultValue = "saved_models",
      description = "The folder of models (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(
      names = "--name",
      description = "The model (default: the only model under --base, or 'demo').")
  String name;

  @Option(names = "--model-version", description = "The version (default: the latest).")
  Long version;

  @Option(
      names = "--batches",
      split = ",",
      defaultValue = "1,16",
      description = "Batch sizes (default: ${DEFAULT-VALUE}).")
  List<Integer> batches;

  @Option(
      names = "--iterations",
      defaultValue = "10",
      description = "Timed calls per path and batch size (default: ${DEFAULT-VALUE}).")
  int iterations;

  @Option(
      names = "--warmup",
      defaultValue = "2",
      description = "Untimed calls first, per path and batch size (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(
      names = "--format",
      defaultValue = "instances",
      description =
          "Request format: instances (rows) or inputs (columns) (default: ${DEFAULT-VALUE}).")
  String format;

  @Option(
      names = "--guidance",
      defaultValue = "3",
      description = "guidance_scale of conditional models (default: ${DEFAULT-VALUE}).")
  float guidance;

  @Option(
      names = "--clients",
      split = ",",
      paramLabel = "N",
      description =
          "Instead: concurrent single-image clients, e.g. 1,4,16,64, each run without and with"
              + " --enable_batching; images/s and latency percentiles (default: off).")
  List<Integer> clients;

  @Option(
      names = "--requests",
      defaultValue = "8",
      description = "With --clients: requests per client per run (default: ${DEFAULT-VALUE}).")
  int requests;

  @Option(
      names = "--max_batch_size",
      defaultValue = "" + BatchingOptions.MAX_BATCH_SIZE,
      description =
          "With --clients: max_batch_size of the batched runs (default: ${DEFAULT-VALUE}).")
  int maxBatchSize;

  @Option(
      names = "--batch_timeout_micros",
      defaultValue = "0",
      description =
          "With --clients: batch_timeout_micros of the batched runs (default: ${DEFAULT-VALUE}).")
  long batchTimeoutMicros;

  @Option(
      names = "--num_batch_threads",
      defaultValue = "1",
      description =
          "With --clients: num_batch_threads of the batched runs (default: ${DEFAULT-VALUE}).")
  int numBatchThreads;

  @Option(names = "--json", description = "Also write the figures to this JSON file.")
  Path json;

  @Option(
      names = {"-q", "--quiet"},
      description = "No line per call.")
  boolean quiet;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if (!Files.isDirectory(base)) {
      throw new IllegalArgumentException(
          base
              + " is not a folder. Make an export first: ./tfdiffusion demo, then ./tfdiffusion"
              + " export --run runs/demo-... --name demo --base "
              + base);
    }
    if (iterations < 1
        || warmup < 0
        || batches.isEmpty()
        || batches.stream().anyMatch(b -> b < 1)) {
      throw new IllegalArgumentException(
          "--iterations must be >= 1, --warmup >= 0 and every batch size >= 1");
    }
    PredictRequest.Format f =
        switch (format.trim().toLowerCase(Locale.ROOT)) {
          case "instances", "rows", "row" -> PredictRequest.Format.ROW;
          case "inputs", "columns", "columnar" -> PredictRequest.Format.COLUMNAR;
          default ->
              throw new IllegalArgumentException(
                  "unknown --format '" + format + "'; valid: instances, inputs");
        };
    String model = name != null ? name : defaultModel();
    if (clients != null) {
      return concurrency(out, model);
    }
    ServeBenchmark.Report report =
        ServeBenchmark.run(
            new ServeBenchmark.Settings(
                base,
                model,
                version == null ? OptionalLong.empty() : OptionalLong.of(version),
                batches,
                iterations,
                warmup,
                f,
                guidance),
            line -> {
              if (!quiet) {
                out.println(line);
                out.flush();
              }
            });
    out.println();
    out.print(report.markdown());
    out.flush();
    if (json != null) {
      try {
        PredictRequest.MAPPER
            .copy()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .writeValue(json.toFile(), report);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + json, e);
      }
      out.println("figures: " + json);
    }
    return 0;
  }

  private int concurrency(PrintWriter out, String model) {
    if (clients.isEmpty() || clients.stream().anyMatch(c -> c < 1) || requests < 1) {
      throw new IllegalArgumentException("--clients must be whole numbers >= 1, --requests >= 1");
    }
    BatchingOptions batching =
        new BatchingOptions(
            true,
            maxBatchSize,
            java.time.Duration.ofNanos(Math.multiplyExact(batchTimeoutMicros, 1000L)),
            Math.max(
                BatchingOptions.MAX_ENQUEUED_BATCHES,
                1 + clients.stream().mapToInt(c -> c).max().orElse(1) / maxBatchSize),
            numBatchThreads,
            List.of());
    ConcurrencyBenchmark.Report report =
        ConcurrencyBenchmark.run(
            new ConcurrencyBenchmark.Settings(base, model, clients, requests, guidance, batching),
            line -> {
              if (!quiet) {
                out.println(line);
                out.flush();
              }
            });
    out.println();
    out.println("batched runs: " + batching);
    out.print(report.markdown());
    out.flush();
    writeJson(out, report);
    return report.differentImages() == 0 ? 0 : 1;
  }

  private void writeJson(PrintWriter out, Object report) {
    if (json != null) {
      try {
        PredictRequest.MAPPER
            .copy()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .writeValue(json.toFile(), report);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + json, e);
      }
      out.println("figures: " + json);
    }
  }

  private String defaultModel() {
    try (ModelRegistry registry =
        new ModelRegistry(base, java.time.Duration.ZERO, ServerLog.quiet())) {
      List<String> names = registry.modelNames();
      if (names.size() == 1) {
        return names.get(0);
      }
      if (names.contains("demo")) {
        return "demo";
      }
      throw new IllegalArgumentException(
          names.isEmpty()
              ? "no models under " + base + "; export one first (./tfdiffusion export --run ...)"
              : "several models under "
                  + base
                  + " ("
                  + String.join(", ", names)
                  + "); pick one with --name");
    }
  }
}
