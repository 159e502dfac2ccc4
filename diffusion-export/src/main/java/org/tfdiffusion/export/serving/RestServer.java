package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A server for every model under a base path that speaks TensorFlow Serving's REST API:
 *
 * <ul>
 *   <li>{@code GET /v1/models/NAME[/versions/N]}: model status;
 *   <li>{@code GET /v1/models/NAME[/versions/N]/metadata}: the signatures;
 *   <li>{@code POST /v1/models/NAME[/versions/N]:predict}: runs a signature on {@code instances}
 *       (row format) or {@code inputs} (columnar), answering {@code predictions} or {@code
 *       outputs}.
 * </ul>
 *
 * <p>Beyond TensorFlow Serving's API, read-only extensions for the web page (which uses nothing
 * else):
 *
 * <ul>
 *   <li>{@code GET /}: the web page (files bundled in this jar, see {@link WebPage});
 *   <li>{@code GET /v1/models}: every model with its versions and what its export says (sampler,
 *       steps, class names, image shape; see {@link ModelListing});
 *   <li>{@code GET /v1/runs}, {@code /v1/runs/NAME/metrics.csv}, {@code config.json}, {@code
 *       samples/step-N.png}: the training runs of {@code serve --runs DIR} (see {@link
 *       RunCatalog});
 *   <li>{@code POST /v1/models/NAME[/versions/N]:interpolate}: the strip of frames between two
 *       seeds' images that {@code sample --interpolate} draws, in a prediction slot (see {@link
 *       Interpolations}).
 * </ul>
 *
 * Every error, the HTTP layer's included, is {@code {"error": "..."}} with TensorFlow Serving's
 * status codes (400 bad request, 404 unknown model, version or signature, 405 wrong method, 429
 * busy, 503 a version that is not loaded, 500 anything else, whose details go only to the server
 * log) and the HTTP layer's (408, 413, 414, 431; see {@link HttpTransport}). A client mistake never
 * gets a 5xx.
 *
 * <p>With {@link Options#grpcPort} set, the same server also answers TensorFlow Serving's gRPC API
 * ({@link GrpcServer}) on the same models, slots, batching and metrics.
 *
 * <p>The HTTP layer ({@link HttpTransport}, {@link HttpLimits}) reads requests without holding a
 * thread; complete requests run on a small pool of threads. At most {@code maxConcurrent}
 * predictions run at once, in a {@link PredictionQueue}: others wait for a slot, holding no thread,
 * up to {@code queueTimeout} and then get 429; a prediction whose client hangs up leaves the queue
 * or gives up its slot. A request may carry at most {@code maxBatch} rows.
 */
public final class RestServer implements AutoCloseable {
  /**
   * How the server runs.
   *
   * @param host the address to listen on
   * @param port the port (0: a free one)
   * @param maxBatch the most rows a request may carry
   * @param maxConcurrent predictions that run at once (without batching)
   * @param poll how often the base path is scanned for new versions (zero: on request only)
   * @param queueTimeout how long a prediction waits for a slot before 429
   * @param logRequests whether each request is logged
   * @param runs the training runs the web page shows
   * @param limits the HTTP layer's timeouts and limits
   * @param loadRetries how failed model loads are retried
   * @param accessLog where each request's JSON line goes, if anywhere
   * @param batching whether and how concurrent predictions are merged into one graph run
   * @param grpcPort the port of the gRPC API, TensorFlow Serving's PredictionService and
   *     ModelService (0: a free one; {@link #NO_GRPC}: none)
   */
  public record Options(
      String host,
      int port,
      int maxBatch,
      int maxConcurrent,
      Duration poll,
      Duration queueTimeout,
      boolean logRequests,
      Optional<Path> runs,
      HttpLimits limits,
      ModelRegistry.LoadRetries loadRetries,
      Optional<AccessLog> accessLog,
      BatchingOptions batching,
      int grpcPort) {
    /**
     * @throws IllegalArgumentException naming the serve option of a value out of range
     */
    /** {@link #grpcPort} of a server without the gRPC API. */
    public static final int NO_GRPC = -1;

    public Options {
      if (maxBatch < 1) {
        throw new IllegalArgumentException("--max-batch must be at least 1, not " + maxBatch);
      }
      if (maxConcurrent < 1) {
        throw new IllegalArgumentException(
            "--max-concurrent must be at least 1, not " + maxConcurrent);
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("--rest_api_port must be in [0, 65535], not " + port);
      }
      if (grpcPort != NO_GRPC && (grpcPort < 0 || grpcPort > 65535)) {
        throw new IllegalArgumentException("--port must be in [0, 65535], not " + grpcPort);
      }
      if (queueTimeout.isNegative()) {
        throw new IllegalArgumentException(
            "--queue-timeout must be at least 0, not " + Durations.seconds(queueTimeout));
      }
      Objects.requireNonNull(runs, "runs (Optional.empty() for none)");
      Objects.requireNonNull(limits, "limits");
      Objects.requireNonNull(loadRetries, "loadRetries");
      Objects.requireNonNull(accessLog, "accessLog (Optional.empty() for none)");
      Objects.requireNonNull(batching, "batching");
    }

    /**
     * Loopback, a free port, 64 rows, one prediction per core, poll every 2 s, a 60 s queue, no
     * runs, {@link HttpLimits#defaults()}, TensorFlow Serving's load retries, no access log and no
     * batching.
     */
    public static Options defaults() {
      int cores = Math.max(1, Runtime.getRuntime().availableProcessors());
      return new Options(
          "127.0.0.1",
          0,
          64,
          cores,
          Duration.ofSeconds(2),
          Duration.ofSeconds(60),
          false,
          Optional.empty(),
          HttpLimits.defaults(),
          ModelRegistry.LoadRetries.defaults(),
          Optional.empty(),
          BatchingOptions.disabled(),
          NO_GRPC);
    }

    /** These options with another address to listen on. */
    public Options withHost(String h) {
      return new Options(
          h,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** These options with another port (0: a free one). */
    public Options withPort(int p) {
      return new Options(
          host,
          p,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** These options with another limit of rows per request. */
    public Options withMaxBatch(int b) {
      return new Options(
          host,
          port,
          b,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** These options with another number of predictions that run at once. */
    public Options withMaxConcurrent(int c) {
      return new Options(
          host,
          port,
          maxBatch,
          c,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** These options with another scan interval of the base path (zero: on request only). */
    public Options withPoll(Duration d) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          d,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** These options with another wait for a prediction slot before 429. */
    public Options withQueueTimeout(Duration d) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          d,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** Whether each request is logged (method, path, status, time). */
    public Options withLogRequests(boolean log) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          log,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** Training runs for the web page: a folder of run folders (or one run folder). */
    public Options withRuns(Path folder) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          Optional.of(folder),
          limits,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** The HTTP layer's timeouts and limits. */
    public Options withLimits(HttpLimits l) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          l,
          loadRetries,
          accessLog,
          batching,
          grpcPort);
    }

    /** How failed model loads are retried. */
    public Options withLoadRetries(ModelRegistry.LoadRetries r) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          r,
          accessLog,
          batching,
          grpcPort);
    }

    /** Where each request's JSON line goes (see {@link AccessLog}). */
    public Options withAccessLog(AccessLog a) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          Optional.of(a),
          batching,
          grpcPort);
    }

    /** The port of the gRPC API (0: a free one; {@link #NO_GRPC}: none). */
    public Options withGrpcPort(int p) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          batching,
          p);
    }

    /** How concurrent predictions are merged (see {@link BatchingOptions}). */
    public Options withBatching(BatchingOptions b) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          logRequests,
          runs,
          limits,
          loadRetries,
          accessLog,
          b,
          grpcPort);
    }
  }

  /** Liveness for Kubernetes: 200 while the server answers at all. */
  public static final String LIVENESS_PATH = Probes.LIVENESS_PATH;

  /** Readiness for Kubernetes: 200 once every model's default version is loaded. */
  public static final String READINESS_PATH = Probes.READINESS_PATH;

  private static final Pattern ROUTE =
      Pattern.compile(
          "/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?(/metadata|:[A-Za-z]+)?/?");

  /**
   * Threads that serve complete requests: status, metadata, files, parsing predictions and loading
   * models. Predictions run on the {@link PredictionQueue}'s own threads.
   */
  private static final int REQUEST_THREADS = 8;

  private final Options options;
  private final ModelRegistry registry;
  private final RunCatalog runs;
  private final WebPage page;
  private final Interpolations interpolations = new Interpolations();
  private final ServerLog log;
  private final ExecutorService requests;
  private final PredictionQueue slots;
  private final Predictions predictions;
  private final Probes probes;
  private final AtomicInteger active = new AtomicInteger();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final HttpTransport transport;
  private final ServingMetrics metrics;
  private final GrpcServer grpc;
  private volatile boolean closing;

  private RestServer(Options options, ModelRegistry registry, ServerLog log) {
    this.options = options;
    this.registry = registry;
    this.runs = new RunCatalog(options.runs());
    this.page = WebPage.load();
    this.log = log;
    AtomicInteger n = new AtomicInteger();
    this.requests =
        Executors.newFixedThreadPool(
            REQUEST_THREADS,
            r -> {
              Thread t = new Thread(r, "serve-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    this.slots = new PredictionQueue(options.maxConcurrent());
    AtomicReference<HttpTransport> transportRef = new AtomicReference<>();
    AtomicReference<BatchScheduler> batcherRef = new AtomicReference<>();
    this.metrics =
        new ServingMetrics(
            registry,
            slots::waiting,
            () -> {
              BatchScheduler b = batcherRef.get();
              return b == null ? 0 : b.pending();
            },
            () -> {
              BatchScheduler b = batcherRef.get();
              return slots.running() + (b == null ? 0 : b.running());
            },
            () -> {
              HttpTransport t = transportRef.get();
              return t == null ? 0 : t.openConnections();
            });
    BatchScheduler batcher =
        options.batching().enabled()
            ? new BatchScheduler(options.batching(), options.queueTimeout(), metrics, log)
            : null;
    batcherRef.set(batcher);
    this.predictions =
        new Predictions(
            registry,
            metrics,
            slots,
            Optional.ofNullable(batcher),
            options.queueTimeout(),
            options.maxBatch());
    this.probes = new Probes(registry, requests, log);
    HttpTransport bound;
    try {
      bound =
          HttpTransport.bind(options.host(), options.port(), options.limits(), this::dispatch, log);
    } catch (RuntimeException e) {
      releaseWorkers();
      throw e;
    }
    this.transport = bound;
    transportRef.set(bound);
    GrpcServer g = null;
    if (options.grpcPort() != Options.NO_GRPC) {
      try {
        g =
            GrpcServer.start(
                this,
                options.host(),
                options.grpcPort(),
                (int) Math.min(Integer.MAX_VALUE, options.limits().maxBodyBytes()),
                requests);
      } catch (RuntimeException e) {
        bound.close();
        releaseWorkers();
        throw e;
      }
    }
    this.grpc = g;
  }

  /**
   * Stops the request threads, the prediction slots and the batcher of a server that failed to
   * start.
   */
  private void releaseWorkers() {
    requests.shutdownNow();
    predictions.close();
  }

  /**
   * Starts a server for the models under {@code base}.
   *
   * @throws UncheckedIOException when the address cannot be bound
   * @throws IllegalArgumentException when {@code base} is not a folder
   */
  public static RestServer start(Path base, Options options, ServerLog log) {
    if (!Files.isDirectory(base)) {
      throw new IllegalArgumentException(
          base
              + " is not a folder; export a model into it first (./tfdiffusion export --run RUN"
              + " --base "
              + base
              + ")");
    }
    options
        .runs()
        .filter(r -> !Files.isDirectory(r))
        .ifPresent(
            r -> {
              throw new IllegalArgumentException(
                  r
                      + " is not a folder; --runs takes a folder of training runs (such as runs/,"
                      + " where ./tfdiffusion train and demo write them)");
            });
    ModelRegistry registry = new ModelRegistry(base, options.poll(), options.loadRetries(), log);
    try {
      return new RestServer(options, registry, log);
    } catch (RuntimeException e) {
      registry.close();
      throw e;
    }
  }

  /** The port the server listens on (the real one when started with port 0). */
  public int port() {
    return transport.port();
  }

  /** The server's root URL, e.g. {@code http://127.0.0.1:8501}. */
  public URI url() {
    String host = options.host();
    if (host.equals("0.0.0.0") || host.equals("::")) {
      host = "127.0.0.1";
    }
    if (host.contains(":")) {
      host = "[" + host + "]";
    }
    return URI.create("http://" + host + ":" + port());
  }

  public ModelRegistry registry() {
    return registry;
  }

  /** The port of the gRPC API, if it is on (the real one when started with port 0). */
  public OptionalInt grpcPort() {
    return grpc == null ? OptionalInt.empty() : OptionalInt.of(grpc.port());
  }

  /** The gRPC API's address as clients name it, e.g. {@code 127.0.0.1:8500}, if it is on. */
  public Optional<String> grpcTarget() {
    return grpcPort().stream().mapToObj(p -> url().getHost() + ":" + p).findFirst();
  }

  ServingMetrics metrics() {
    return metrics;
  }

  ServerLog log() {
    return log;
  }

  /** Whether the server is shutting down (new model calls get UNAVAILABLE). */
  boolean isClosing() {
    return closing;
  }

  /** A model call of the gRPC API begins: {@link #close} waits for it. */
  void begin() {
    active.incrementAndGet();
  }

  /** A model call of the gRPC API has been answered. */
  void end() {
    active.decrementAndGet();
  }

  /** The training runs shown by the web page. */
  public RunCatalog runs() {
    return runs;
  }

  /** The URL of the web page. */
  public URI pageUrl() {
    return url().resolve("/");
  }

  public Options options() {
    return options;
  }

  /** How predictions run, for the gRPC API. */
  Predictions predictions() {
    return predictions;
  }

  /** Predictions running now (including those whose client hung up, until they end). */
  public int running() {
    return slots.running();
  }

  /** Predictions waiting for a slot now. */
  public int queued() {
    return slots.waiting();
  }

  /** Predictions that left the queue unrun because their client hung up, since the start. */
  public long abandonedInQueue() {
    return slots.leftWaiting();
  }

  /** Connections open now. */
  public int openConnections() {
    return transport.openConnections();
  }

  /** Bytes of request bodies held now (being received, or received and being served). */
  public long bodyBytesInFlight() {
    return transport.bodyBytesInFlight();
  }

  /** A complete request from the HTTP layer (on an I/O thread): served on the request pool. */
  private void dispatch(HttpCall call) {
    active.incrementAndGet();
    try {
      requests.execute(() -> serve(call));
    } catch (RejectedExecutionException e) {
      finish(call, HttpReply.error(ErrorCode.UNAVAILABLE, "the server is shutting down"));
    }
  }

  private void serve(HttpCall call) {
    CompletionStage<HttpReply> reply;
    try {
      reply = route(call);
    } catch (RuntimeException | Error e) {
      reply = CompletableFuture.completedFuture(errorReply(call, e));
    }
    reply.whenComplete((r, e) -> finish(call, e == null ? r : errorReply(call, e)));
  }

  private void finish(HttpCall call, HttpReply reply) {
    try {
      call.answer(reply);
      double seconds = (System.nanoTime() - call.startNanos()) / 1e9;
      metrics.record(call.facts(), seconds);
      if (options.accessLog().isPresent()) {
        try {
          options
              .accessLog()
              .get()
              .write(call.facts(), call.method(), call.rawPath(), reply.status(), seconds);
        } catch (RuntimeException e) {
          log.error("access log", e);
        }
      }
      if (options.logRequests()) {
        log.info(
            String.format(
                "%s %s %d %.0f ms",
                call.method(),
                call.rawPath(),
                reply.status(),
                (System.nanoTime() - call.startNanos()) / 1e6));
      }
    } finally {
      active.decrementAndGet();
    }
  }

  /**
   * The answer to a failure: TensorFlow Serving's error shape; details of a 500 only in the log.
   */
  private HttpReply errorReply(HttpCall call, Throwable failure) {
    Throwable e = failure;
    while (e instanceof CompletionException && e.getCause() != null) {
      e = e.getCause();
    }
    String where = call.method() + " " + call.rawPath();
    call.facts().code(e instanceof ServingException s ? s.code() : ErrorCode.INTERNAL);
    if (e instanceof ServingException s) {
      if (s.code().httpStatus() >= 500) {
        log.error(where + ": " + s.getMessage(), null);
      } else if (s.code() == ErrorCode.CANCELLED) {
        log.info(where + ": " + s.getMessage());
      }
      call.facts().error(s.getMessage());
      HttpReply r = HttpReply.error(s.code(), s.getMessage());
      return s.allow().map(m -> r.with("Allow", m)).orElse(r);
    }
    log.error(where + " failed", e);
    String message =
        "internal error ("
            + e.getClass().getSimpleName()
            + "); the details are in the server's log";
    call.facts().error(message);
    return HttpReply.error(ErrorCode.INTERNAL, message);
  }

  private CompletionStage<HttpReply> route(HttpCall call) {
    return predictRoute(call).orElseGet(() -> CompletableFuture.completedFuture(routeNow(call)));
  }

  /** The answer to {@code POST ...:predict}, which completes once the prediction has run. */
  private Optional<CompletionStage<HttpReply>> predictRoute(HttpCall call) {
    if (closing) {
      return Optional.empty();
    }
    Matcher m = ROUTE.matcher(call.rawPath());
    if (!m.matches() || m.group(3) != null) {
      return Optional.empty();
    }
    if (":interpolate".equals(m.group(4))) {
      call.facts().api(RequestFacts.Api.INTERPOLATE);
      call.facts().model(m.group(1));
      requireMethod(call, "POST");
      return Optional.of(interpolate(call, m.group(1), version(call, m.group(2))));
    }
    if (!":predict".equals(m.group(4))) {
      return Optional.empty();
    }
    call.facts().api(RequestFacts.Api.PREDICT);
    call.facts().model(m.group(1));
    requireMethod(call, "POST");
    return Optional.of(predict(call, m.group(1), version(call, m.group(2))));
  }

  /**
   * {@code :interpolate}: parsed and checked on the request thread, drawn in a slot of the {@link
   * PredictionQueue} with the version acquired until it ends.
   */
  private CompletionStage<HttpReply> interpolate(HttpCall call, String name, OptionalLong version) {
    Interpolations.Request request = Interpolations.parse(call.body(), options.maxBatch());
    ServableModel model = registry.acquire(name, version);
    try {
      call.facts().version(model.version());
      call.facts().rows(request.frames());
      ServableModel running = model;
      CompletableFuture<HttpReply> reply =
          slots.submit(
              call.client(),
              options.queueTimeout(),
              () -> HttpReply.json(interpolations.draw(running, request)));
      model = null; // released when the strip is drawn
      reply.whenComplete((r, e) -> running.release());
      return reply;
    } finally {
      if (model != null) {
        model.release();
      }
    }
  }

  private HttpReply routeNow(HttpCall call) {
    String method = call.method();
    String path = call.rawPath();
    if (closing) {
      throw new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down");
    }
    switch (path) {
      case ServingMetrics.PATH -> {
        requireMethod(call, "GET");
        return new HttpReply(
            ErrorCode.OK.httpStatus(),
            metrics.contentType(),
            metrics.scrape(),
            Map.of("Cache-Control", "no-store"));
      }
      case LIVENESS_PATH -> {
        requireMethod(call, "GET");
        return probes.liveness();
      }
      case READINESS_PATH -> {
        requireMethod(call, "GET");
        return probes.readiness();
      }
      default -> {
        // the model API, the page, the runs
      }
    }
    Optional<WebPage.Resource> file = page.find(path);
    if (file.isPresent()) {
      requireMethod(call, "GET");
      HttpReply r = HttpReply.file(file.get().contentType(), file.get().body());
      return file.get().isPage()
          ? r.with("Content-Security-Policy", WebPage.CONTENT_SECURITY_POLICY)
              .with("Referrer-Policy", "no-referrer")
          : r;
    }
    if (path.equals("/v1/models") || path.equals("/v1/models/")) {
      requireMethod(call, "GET");
      registry.scanAll();
      return HttpReply.json(ModelListing.write(registry, options.maxBatch()));
    }
    if (path.equals("/v1/runs") || path.equals("/v1/runs/")) {
      requireMethod(call, "GET");
      return HttpReply.json(runs.listing());
    }
    if (path.startsWith("/v1/runs/")) {
      return runs.file(call);
    }
    Matcher m = ROUTE.matcher(path);
    if (!m.matches()) {
      throw ServingException.notFound(
          "Malformed request: %s %s (this server answers GET /v1/models/NAME[/versions/N]"
              + "[/metadata] and POST /v1/models/NAME[/versions/N]:predict, and its extensions"
              + " GET /v1/models, GET /v1/runs, POST /v1/models/NAME[/versions/N]:interpolate"
              + " and the web page at /)",
          method, path);
    }
    String name = m.group(1);
    if (m.group(3) != null) {
      throw ServingException.notFound(
          "version labels are not supported by this server; use /versions/N (%s %s)", method, path);
    }
    OptionalLong version = version(call, m.group(2));
    String verb = m.group(4);
    if (verb == null || verb.equals("/metadata")) {
      call.facts().api(verb == null ? RequestFacts.Api.STATUS : RequestFacts.Api.METADATA);
      call.facts().model(name);
      version.ifPresent(call.facts()::version);
      requireMethod(call, "GET");
      return HttpReply.json(
          verb == null
              ? ModelStatusJson.status(registry, name, version)
              : ModelStatusJson.metadata(registry, name, version, call.facts()));
    }
    switch (verb) {
      case ":classify", ":regress" ->
          throw new ServingException(
              ErrorCode.INVALID_ARGUMENT,
              String.format(
                  "%s is not served; the models here have predict signatures: use :predict", verb));
      default ->
          throw ServingException.notFound(
              "Malformed request: %s %s (unknown verb %s; use :predict, or :interpolate for a"
                  + " strip between two seeds)",
              method, path, verb);
    }
  }

  /** The version number of a URL, or empty for the default. */
  private static OptionalLong version(HttpCall call, String segment) {
    if (segment == null) {
      return OptionalLong.empty();
    }
    if (!segment.matches("[0-9]{1,18}")) {
      throw ServingException.notFound(
          "Malformed request: %s %s (the version must be a number)", call.method(), call.rawPath());
    }
    return OptionalLong.of(Long.parseLong(segment));
  }

  static void requireMethod(HttpCall call, String wanted) {
    if (!call.method().equals(wanted)) {
      throw ServingException.methodNotAllowed(
          String.format("%s %s: this URL takes %s", call.method(), call.rawPath(), wanted), wanted);
    }
  }

  /**
   * {@code :predict}: parsed and checked on the request thread, run in a slot of the {@link
   * PredictionQueue}; the version stays acquired until the run ends.
   */
  private CompletionStage<HttpReply> predict(HttpCall call, String name, OptionalLong version) {
    PredictRequest request = PredictRequest.parse(call.body());
    return predictions
        .prediction(
            call.client(),
            name,
            version,
            request.signatureName(),
            signature -> request.inputs(signature, options.maxBatch()),
            call.facts())
        .thenApply(out -> HttpReply.json(PredictResponse.write(request.format(), out)));
  }

  /**
   * Runs a prediction in one of the {@code maxConcurrent} slots, waiting for one if need be (for
   * in-process callers such as the serving benchmark).
   *
   * @throws ServingException 429 when no slot frees within the queue timeout, or the model's error
   */
  public Map<String, HostTensor> run(
      ServableModel model, SignatureSpec signature, Map<String, HostTensor> inputs) {
    return predictions.run(model, signature, inputs);
  }

  static byte[] error(String message) {
    return json(
        g -> {
          g.writeStartObject();
          g.writeStringField("error", message);
          g.writeEndObject();
        });
  }

  /** Something that writes one JSON document. */
  interface JsonWriter {
    void write(JsonGenerator g) throws IOException;
  }

  /** A JSON object whose fields {@code fields} writes. */
  static byte[] jsonObject(JsonWriter fields) {
    return json(
        g -> {
          g.writeStartObject();
          fields.write(g);
          g.writeEndObject();
        });
  }

  static byte[] json(JsonWriter writer) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (JsonGenerator g = PredictRequest.MAPPER.getFactory().createGenerator(out)) {
      writer.write(g);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /**
   * Stops accepting requests, lets the running ones finish (up to {@code grace}), then closes the
   * connections and every loaded model.
   */
  public void close(Duration grace) {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    closing = true;
    transport.stopAccepting();
    if (grpc != null) {
      grpc.stopAccepting();
    }
    long deadline = System.nanoTime() + grace.toNanos();
    while (active.get() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    if (active.get() > 0) {
      log.info(
          active.get()
              + " requests still running after "
              + Durations.seconds(grace)
              + " s; closing anyway");
    }
    transport.close();
    if (grpc != null) {
      grpc.close(Duration.ofMillis(200));
    }
    predictions.close();
    requests.shutdownNow();
    interpolations.close();
    registry.close();
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(5));
  }
}
