package org.tfdiffusion.cli.export;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.tfdiffusion.export.serving.AccessLog;
import org.tfdiffusion.export.serving.BatchingOptions;
import org.tfdiffusion.export.serving.Durations;
import org.tfdiffusion.export.serving.HttpLimits;
import org.tfdiffusion.export.serving.ModelRegistry;
import org.tfdiffusion.export.serving.RestServer;
import org.tfdiffusion.export.serving.RunCatalog;
import org.tfdiffusion.export.serving.ServerLog;
import org.tfdiffusion.export.serving.ServingMetrics;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.sampling.SamplerKind;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code serve}: TensorFlow Serving's REST API for every model under a base path, and a web page at
 * {@code /} to generate images and look at training runs ({@code --runs}).
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Serve the exported models over TensorFlow Serving's REST and gRPC APIs.",
      "",
      "Every model under --base (BASE/NAME/VERSION/, as export writes them): the latest "
          + "version by default, older ones at /versions/N; versions exported while it runs "
          + "are picked up. Models load on their first request.",
      "",
      "  GET  /v1/models/NAME[/versions/N]           status",
      "  GET  /v1/models/NAME[/versions/N]/metadata  signatures, dtypes, shapes",
      "  POST /v1/models/NAME[/versions/N]:predict   {\"instances\": [{...}, ...]}",
      "       or {\"inputs\": {...}}, with an optional \"signature_name\"",
      "",
      "gRPC (--port, default 8500; TensorFlow Serving's protos, so its clients work as they"
          + " are): tensorflow.serving.PredictionService/Predict and GetModelMetadata,"
          + " tensorflow.serving.ModelService/GetModelStatus. Errors carry the REST API's"
          + " message with TensorFlow Serving's status code (INVALID_ARGUMENT, NOT_FOUND,"
          + " UNAVAILABLE, RESOURCE_EXHAUSTED, ...).",
      "",
      "Errors are {\"error\": \"...\"} with status 400 (bad request), 404 (unknown "
          + "model, version or signature), 405 (wrong method), 408 (request too slow), 413 "
          + "(body too large), 429 (no free slot within --queue-timeout) or 503 (version not "
          + "loaded). A version is served once it has loaded completely; failed loads are "
          + "retried. Limits and timeouts: docs/serving-reliability.md. Runs until Ctrl-C.",
      "",
      "A web page at http://HOST:PORT/ generates images (model, version, class, seeds, "
          + "guidance, steps; the link keeps the settings) and, with --runs, shows each "
          + "training run's loss curve and sample grids. It uses only public endpoints, "
          + "including these read-only extensions:",
      "",
      "  GET  /v1/models                             models, versions, samplers,",
      "                                              class names, image shapes",
      "  GET  /v1/runs                               the runs under --runs",
      "  GET  /v1/runs/NAME/metrics.csv | config.json | samples/step-N.png",
      "",
    },
    footer = {
      "",
      "Examples:",
      "  ./tfdiffusion serve --base saved_models --rest_api_port 8501 --port 8500",
      "  ./tfdiffusion serve --runs runs      # then open http://127.0.0.1:8501/",
      "  curl -s localhost:8501/v1/models/demo/metadata",
      "  curl -s -X POST localhost:8501/v1/models/demo:predict -d \\",
      "    '{\"instances\": [{\"seed\": 1, \"class_label\": 3, \"guidance_scale\": 3}]}'",
      "  curl -s -X POST localhost:8501/v1/models/demo:predict -d \\",
      "    '{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [1, 2],",
      "      \"class_label\": [3, 3], \"guidance_scale\": [3, 3], \"num_steps\": 10}}'"
    })
public final class ServeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--base",
      defaultValue = "saved_models",
      description = "The folder of models, BASE/NAME/VERSION/ (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(
      names = {"--rest_api_port", "--rest-api-port"},
      defaultValue = "8501",
      paramLabel = "PORT",
      description =
          "The REST API's and the web page's port, as TensorFlow Serving's flag (default:"
              + " ${DEFAULT-VALUE}; 0: a free one).")
  int port;

  @Option(
      names = {"--port", "--grpc_port", "--grpc-port"},
      defaultValue = "8500",
      paramLabel = "PORT",
      description =
          "The gRPC API's port (TensorFlow Serving's PredictionService and ModelService), as"
              + " TensorFlow Serving's --port (default: ${DEFAULT-VALUE}; 0: a free one).")
  int grpcPort;

  @Option(
      names = {"--no-grpc", "--no_grpc"},
      description = "Serve the REST API only, without the gRPC API.")
  boolean noGrpc;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description =
          "The address both APIs listen on (default: ${DEFAULT-VALUE}, this machine only; 0.0.0.0:"
              + " every interface).")
  String host;

  @Option(
      names = "--runs",
      paramLabel = "DIR",
      description =
          "A folder of training runs (such as runs/) whose loss curves and sample grids the web"
              + " page shows (default: none).")
  Path runs;

  @Option(
      names = "--max-batch",
      defaultValue = "64",
      description = "The most rows a request may carry (default: ${DEFAULT-VALUE}); more: 400.")
  int maxBatch;

  @Option(
      names = "--max-concurrent",
      description =
          "Predictions that run at once (default: the number of cores). Others wait for a slot.")
  Integer maxConcurrent;

  @Option(
      names = "--queue-timeout",
      defaultValue = "60",
      paramLabel = "SECONDS",
      description =
          "How long a prediction waits for a slot before it is refused with 429 (default:"
              + " ${DEFAULT-VALUE}).")
  int queueTimeoutSeconds;

  @Option(
      names = "--max-connections",
      defaultValue = "" + HttpLimits.MAX_CONNECTIONS,
      description = "Open connections at most; more are answered 503 (default: ${DEFAULT-VALUE}).")
  int maxConnections;

  @Option(
      names = "--header-timeout",
      defaultValue = "" + HttpLimits.HEADER_TIMEOUT_SECONDS,
      paramLabel = "SECONDS",
      description =
          "From a request's first byte to the end of its headers; slower: 408 (default:"
              + " ${DEFAULT-VALUE}).")
  double headerTimeoutSeconds;

  @Option(
      names = "--body-timeout",
      defaultValue = "" + HttpLimits.BODY_TIMEOUT_SECONDS,
      paramLabel = "SECONDS",
      description =
          "From the end of a request's headers to the end of its body; slower: 408 (default:"
              + " ${DEFAULT-VALUE}).")
  double bodyTimeoutSeconds;

  @Option(
      names = "--idle-timeout",
      defaultValue = "" + HttpLimits.IDLE_TIMEOUT_SECONDS,
      paramLabel = "SECONDS",
      description =
          "A connection with no request in progress (or an answer its client does not read) is"
              + " closed after this (default: ${DEFAULT-VALUE}).")
  double idleTimeoutSeconds;

  @Option(
      names = "--max-header-bytes",
      defaultValue = "" + HttpLimits.MAX_HEADER_BYTES,
      description =
          "The request line, and the headers together, at most; more: 414 or 431 (default:"
              + " ${DEFAULT-VALUE}).")
  int maxHeaderBytes;

  @Option(
      names = "--max-body-bytes",
      defaultValue = "" + HttpLimits.MAX_BODY_BYTES,
      description =
          "A request body at most, checked before and while it is read; more: 413 (default:"
              + " ${DEFAULT-VALUE}).")
  long maxBodyBytes;

  @Option(
      names = "--max-body-bytes-in-flight",
      description =
          "All request bodies held at once; a request that would go over: 429 (default: twice"
              + " --max-body-bytes).")
  Long maxBodyBytesInFlight;

  @Option(
      names = {"--max-num-load-retries", "--max_num_load_retries"},
      defaultValue = "" + ModelRegistry.LoadRetries.MAX_RETRIES,
      description =
          "Retries of a failed model load, as TensorFlow Serving's flag (default:"
              + " ${DEFAULT-VALUE}; 0: one attempt).")
  int maxNumLoadRetries;

  @Option(
      names = {"--load-retry-interval-micros", "--load_retry_interval_micros"},
      defaultValue = "" + ModelRegistry.LoadRetries.INTERVAL_MICROS,
      description =
          "Microseconds between load attempts, as TensorFlow Serving's flag (default:"
              + " ${DEFAULT-VALUE}, a minute; negative: no wait).")
  long loadRetryIntervalMicros;

  @Option(
      names = "--poll-seconds",
      defaultValue = "2",
      description =
          "How often to rescan --base for new models and versions (default: ${DEFAULT-VALUE}; 0:"
              + " only when a request names a model).")
  double pollSeconds;

  @Option(
      names = {"-q", "--quiet"},
      description = "Do not log each request.")
  boolean quiet;

  @Option(
      names = "--access-log",
      paramLabel = "FILE",
      description =
          "Append one JSON line per request (model, version, signature, batch, latency, status) to"
              + " FILE; '-': standard output (default: none).")
  String accessLog;

  @Option(
      names = {"--enable_batching", "--enable-batching"},
      description =
          "Merge concurrent predictions of the same model, signature and settings into one graph"
              + " run, as TensorFlow Serving's flag (default: off).")
  boolean enableBatching;

  @Option(
      names = {"--batching_parameters_file", "--batching-parameters-file"},
      paramLabel = "FILE",
      description =
          "TensorFlow Serving's batching parameters (text format: max_batch_size { value: 32 },"
              + " allowed_batch_sizes: 8, ...); the flags below override it.")
  Path batchingParametersFile;

  @Option(
      names = "--max_batch_size",
      description =
          "Rows of one merged run at most (default: " + BatchingOptions.MAX_BATCH_SIZE + ").")
  Integer maxBatchSize;

  @Option(
      names = "--batch_timeout_micros",
      description =
          "How long a batch that is not full waits for more requests (default: 0: run what is"
              + " queued as soon as a batch thread is free).")
  Long batchTimeoutMicros;

  @Option(
      names = "--max_enqueued_batches",
      description =
          "Batches' worth of rows that may wait per model, signature and settings; more: 429"
              + " (default: "
              + BatchingOptions.MAX_ENQUEUED_BATCHES
              + ").")
  Integer maxEnqueuedBatches;

  @Option(
      names = "--num_batch_threads",
      description = "Merged runs that run at once (default: --max-concurrent).")
  Integer numBatchThreads;

  @Option(
      names = "--allowed_batch_sizes",
      split = ",",
      paramLabel = "N",
      description =
          "Sizes a merged run is padded up to, ascending, the last equal to --max_batch_size"
              + " (default: none, no padding).")
  List<Integer> allowedBatchSizes;

  /** Counted down to stop the server (by the shutdown hook, or a test). */
  final CountDownLatch stop = new CountDownLatch(1);

  /** The running server, once started (for tests). */
  volatile RestServer server;

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter out = spec.commandLine().getOut();
    RestServer.Options options =
        RestServer.Options.defaults()
            .withHost(host)
            .withPort(port)
            .withGrpcPort(noGrpc ? RestServer.Options.NO_GRPC : grpcPort)
            .withMaxBatch(maxBatch)
            .withMaxConcurrent(
                maxConcurrent != null
                    ? maxConcurrent
                    : Math.max(1, Runtime.getRuntime().availableProcessors()))
            .withPoll(Duration.ofMillis(Math.round(pollSeconds * 1000)))
            .withQueueTimeout(Duration.ofSeconds(queueTimeoutSeconds))
            .withLogRequests(!quiet)
            .withLimits(
                new HttpLimits(
                    maxConnections,
                    seconds(headerTimeoutSeconds),
                    seconds(bodyTimeoutSeconds),
                    seconds(idleTimeoutSeconds),
                    maxHeaderBytes,
                    maxBodyBytes,
                    maxBodyBytesInFlight != null ? maxBodyBytesInFlight : 2 * maxBodyBytes))
            .withLoadRetries(
                new ModelRegistry.LoadRetries(
                    maxNumLoadRetries,
                    Duration.ofNanos(Math.max(0, loadRetryIntervalMicros) * 1000)));
    if (runs != null) {
      options = options.withRuns(runs);
    }
    options = options.withBatching(batching(options.maxConcurrent()));
    if (!Files.isDirectory(base)) {
      throw new IllegalArgumentException(
          base
              + " is not a folder. Export a model first: ./tfdiffusion export --run RUN --base "
              + base
              + " (or ./tfdiffusion demo, then export its run)");
    }
    if (runs != null && !Files.isDirectory(runs)) {
      throw new IllegalArgumentException(
          runs
              + " is not a folder; --runs takes a folder of training runs (./tfdiffusion train and"
              + " demo write them under runs/)");
    }
    AccessLog requestLog = null;
    if (accessLog != null) {
      requestLog =
          accessLog.equals("-") ? AccessLog.to(System.out) : AccessLog.toFile(Path.of(accessLog));
      options = options.withAccessLog(requestLog);
    }
    RestServer s;
    try {
      s = RestServer.start(base, options, ServerLog.to(out, false));
    } catch (RuntimeException e) {
      if (requestLog != null) {
        requestLog.close();
      }
      throw e;
    }
    server = s;
    Thread hook =
        new Thread(
            () -> {
              out.println("stopping: finishing running requests, closing the models");
              out.flush();
              s.close(Duration.ofSeconds(10));
              stop.countDown();
            },
            "serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    out.print(banner(s));
    out.flush();
    try {
      stop.await();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
        s.close(Duration.ofSeconds(10));
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it closes the server
      }
      if (requestLog != null) {
        requestLog.close();
      }
    }
    return 0;
  }

  /** The batching options: off unless --enable_batching; then the file, then the flags. */
  BatchingOptions batching(int maxConcurrent) {
    BatchingOptions b =
        BatchingOptions.defaults(
            numBatchThreads != null ? numBatchThreads : maxConcurrent, enableBatching);
    if (batchingParametersFile != null) {
      b = b.withFile(batchingParametersFile);
    }
    return new BatchingOptions(
        enableBatching,
        maxBatchSize != null ? maxBatchSize : b.maxBatchSize(),
        batchTimeoutMicros != null
            ? Duration.ofNanos(Math.multiplyExact(batchTimeoutMicros, 1000L))
            : b.batchTimeout(),
        maxEnqueuedBatches != null ? maxEnqueuedBatches : b.maxEnqueuedBatches(),
        numBatchThreads != null ? numBatchThreads : b.numBatchThreads(),
        allowedBatchSizes != null ? allowedBatchSizes : b.allowedBatchSizes());
  }

  /** Seconds as a duration; not finite: infinite (refused by the limits' check). */
  private static Duration seconds(double s) {
    return Double.isFinite(s) ? Duration.ofNanos(Math.round(s * 1e9)) : Duration.ZERO;
  }

  /** What the server prints when it starts: where it listens, the models, example requests. */
  static String banner(RestServer s) {
    ModelRegistry registry = s.registry();
    String url = s.url().toString();
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            "serving %s at %s (TensorFlow Serving REST API; max batch %d, %d predictions at once)%n",
            registry.base().toAbsolutePath().normalize(),
            url,
            s.options().maxBatch(),
            s.options().maxConcurrent()));
    HttpLimits limits = s.options().limits();
    ModelRegistry.LoadRetries retries = s.options().loadRetries();
    b.append(
        String.format(
            "limits: %d connections; headers within %s s, bodies within %s s and %d bytes; idle"
                + " connections closed after %s s; failed loads retried %d times, %s s apart%n",
            limits.maxConnections(),
            Durations.seconds(limits.headerTimeout()),
            Durations.seconds(limits.bodyTimeout()),
            limits.maxBodyBytes(),
            Durations.seconds(limits.idleTimeout()),
            retries.maxRetries(),
            Durations.seconds(retries.interval())));
    BatchingOptions batching = s.options().batching();
    b.append(
        batching.enabled()
            ? "batching: " + batching + "\n"
            : "batching: off (--enable_batching merges concurrent predictions)\n");
    b.append(
        s.grpcTarget()
            .map(
                t ->
                    "gRPC: "
                        + t
                        + " (TensorFlow Serving's PredictionService: Predict, GetModelMetadata;"
                        + " ModelService: GetModelStatus)\n")
            .orElse("gRPC: off\n"));
    b.append("metrics: ")
        .append(url)
        .append(ServingMetrics.PATH)
        .append("; probes: ")
        .append(url)
        .append(RestServer.LIVENESS_PATH)
        .append(", ")
        .append(url)
        .append(RestServer.READINESS_PATH)
        .append('\n');
    b.append("web page: ").append(s.pageUrl()).append('\n');
    RunCatalog runs = s.runs();
    runs.dir()
        .ifPresent(
            d -> {
              List<String> found = List.copyOf(runs.runs().keySet());
              b.append(
                  String.format(
                      "runs: %s (%d: %s)%n",
                      d,
                      found.size(),
                      found.isEmpty()
                          ? "none yet; runs appear as they are written"
                          : String.join(", ", found.subList(0, Math.min(found.size(), 8)))
                              + (found.size() > 8 ? ", ..." : "")));
            });
    List<String> names = registry.modelNames();
    if (names.isEmpty()) {
      b.append("no models yet; exported models appear as they are written\n");
    }
    for (String name : names) {
      List<Long> versions = registry.versions(name);
      long latest = versions.get(versions.size() - 1);
      b.append(
          String.format(
              "  %-16s versions %s, default %d%s%n",
              name, versions, latest, describe(metadata(registry.base(), name, latest))));
    }
    String model = names.isEmpty() ? "NAME" : names.get(0);
    Optional<ExportMetadata> meta =
        names.isEmpty()
            ? Optional.empty()
            : metadata(registry.base(), model, registry.latest(model).orElseThrow());
    boolean conditional = meta.map(ExportMetadata::conditional).orElse(true);
    boolean ddim = meta.flatMap(ExportMetadata::samplerKind).equals(Optional.of(SamplerKind.DDIM));
    String row =
        conditional
            ? "{\"seed\": 1, \"class_label\": 3, \"guidance_scale\": 3.0}"
            : "{\"seed\": 1}";
    String columns =
        "\"seed\": [1, 2]"
            + (conditional ? ", \"class_label\": [3, 3], \"guidance_scale\": [3.0, 3.0]" : "")
            + ", \"num_steps\": 10"
            + (ddim ? ", \"eta\": 0.0" : "");
    String predict = url + "/v1/models/" + model + ":predict";
    b.append("try:\n")
        .append("  curl -s ")
        .append(url)
        .append("/v1/models/")
        .append(model)
        .append('\n')
        .append("  curl -s ")
        .append(url)
        .append("/v1/models/")
        .append(model)
        .append("/metadata\n")
        .append("  curl -s -X POST ")
        .append(predict)
        .append(" -d '{\"instances\": [")
        .append(row)
        .append("]}' \\\n")
        .append("    | jq -r '.predictions[0].images_png_bytes.b64' | base64 -d > seed1.png\n")
        .append("  curl -s -X POST ")
        .append(predict)
        .append(" -d '{\"signature_name\": \"sample\", \"inputs\": {")
        .append(columns)
        .append("}}'\n")
        .append("Ctrl-C stops the server.\n");
    return b.toString();
  }

  private static Optional<ExportMetadata> metadata(Path base, String name, long version) {
    return ExportMetadata.find(base.resolve(name).resolve(String.valueOf(version)));
  }

  private static String describe(Optional<ExportMetadata> meta) {
    if (meta.isEmpty()) {
      return "";
    }
    ExportMetadata m = meta.get();
    StringBuilder s = new StringBuilder(" (");
    s.append(m.sampler());
    List<Integer> shape = m.imageShape();
    if (shape.size() == 3) {
      s.append(", ")
          .append(shape.get(0))
          .append('x')
          .append(shape.get(1))
          .append('x')
          .append(shape.get(2));
    }
    if (!m.classNames().isEmpty()) {
      s.append(", ").append(m.classNames().size()).append(" classes");
    }
    s.append(", training step ").append(m.trainingStep());
    return s.append(')').toString();
  }
}
