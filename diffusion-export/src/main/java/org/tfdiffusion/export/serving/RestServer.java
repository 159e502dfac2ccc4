package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tfdiffusion.graph.BigStack;

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
 *       RunCatalog}).
 * </ul>
 *
 * Errors are {@code {"error": "..."}} with TensorFlow Serving's status codes (400 bad request, 404
 * unknown model, version or signature, 405 wrong method, 429 busy, 503 a version that failed to
 * load, 500 anything else, whose details go only to the server log).
 *
 * <p>Requests run in parallel on a fixed pool of threads with {@link BigStack}-sized stacks (the
 * sampling loop nests on the calling thread's stack). At most {@code maxConcurrent} predictions run
 * at once; others wait for a slot up to {@code queueTimeout} and then get 429. A request may carry
 * at most {@code maxBatch} rows.
 */
public final class RestServer implements AutoCloseable {
  /** How the server runs. */
  public record Options(
      String host,
      int port,
      int maxBatch,
      int maxConcurrent,
      Duration poll,
      Duration queueTimeout,
      long maxBodyBytes,
      boolean logRequests,
      Optional<Path> runs,
      ModelRegistry.LoadRetries loadRetries) {
    public Options {
      if (maxBatch < 1) {
        throw new IllegalArgumentException("--max-batch must be at least 1, not " + maxBatch);
      }
      if (maxConcurrent < 1) {
        throw new IllegalArgumentException(
            "--max-concurrent must be at least 1, not " + maxConcurrent);
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("--port must be in [0, 65535], not " + port);
      }
      Objects.requireNonNull(runs, "runs (Optional.empty() for none)");
      Objects.requireNonNull(loadRetries, "loadRetries");
    }

    /**
     * Loopback, a free port, 64 rows, one prediction per core, poll every 2 s, no runs, TensorFlow
     * Serving's load retries.
     */
    public static Options defaults() {
      return new Options(
          "127.0.0.1",
          0,
          64,
          Math.max(1, Runtime.getRuntime().availableProcessors()),
          Duration.ofSeconds(2),
          Duration.ofSeconds(60),
          64L << 20,
          false,
          Optional.empty(),
          ModelRegistry.LoadRetries.defaults());
    }

    public Options withPort(int p) {
      return new Options(
          host,
          p,
          maxBatch,
          maxConcurrent,
          poll,
          queueTimeout,
          maxBodyBytes,
          logRequests,
          runs,
          loadRetries);
    }

    public Options withMaxBatch(int b) {
      return new Options(
          host,
          port,
          b,
          maxConcurrent,
          poll,
          queueTimeout,
          maxBodyBytes,
          logRequests,
          runs,
          loadRetries);
    }

    public Options withMaxConcurrent(int c) {
      return new Options(
          host,
          port,
          maxBatch,
          c,
          poll,
          queueTimeout,
          maxBodyBytes,
          logRequests,
          runs,
          loadRetries);
    }

    public Options withPoll(Duration d) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          d,
          queueTimeout,
          maxBodyBytes,
          logRequests,
          runs,
          loadRetries);
    }

    public Options withQueueTimeout(Duration d) {
      return new Options(
          host,
          port,
          maxBatch,
          maxConcurrent,
          poll,
          d,
          maxBodyBytes,
          logRequests,
          runs,
          loadRetries);
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
          maxBodyBytes,
          logRequests,
          runs,
          r);
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
          maxBodyBytes,
          logRequests,
          Optional.of(folder),
          loadRetries);
    }
  }

  static {
    // The JDK's HTTP server leaves Nagle's algorithm on: each answer then waits for the client's
    // delayed ACK, about 40 ms per request on Linux (measured: 50 ms -> 5 ms for a status request).
    // Read once, when the server classes load, so it must be set before the first HttpServer.
    if (System.getProperty("sun.net.httpserver.nodelay") == null) {
      System.setProperty("sun.net.httpserver.nodelay", "true");
    }
  }

  private static final Pattern RUN_FILE =
      Pattern.compile("/v1/runs/([^/]+)/(metrics\\.csv|config\\.json|samples/([^/]+))");

  private static final Pattern ROUTE =
      Pattern.compile(
          "/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?(/metadata|:[A-Za-z]+)?/?");

  /** Threads beyond maxConcurrent: for status and metadata and predictions waiting for a slot. */
  private static final int SPARE_THREADS = 16;

  private final Options options;
  private final ModelRegistry registry;
  private final RunCatalog runs;
  private final WebPage page;
  private final ServerLog log;
  private final HttpServer http;
  private final ThreadPoolExecutor pool;
  private final Semaphore slots;
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger active = new AtomicInteger();
  private volatile boolean closing;
  private final java.util.concurrent.atomic.AtomicBoolean closed =
      new java.util.concurrent.atomic.AtomicBoolean();

  private RestServer(Options options, ModelRegistry registry, ServerLog log, HttpServer http) {
    this.options = options;
    this.registry = registry;
    this.runs = new RunCatalog(options.runs());
    this.page = WebPage.load();
    this.log = log;
    this.http = http;
    this.slots = new Semaphore(options.maxConcurrent(), true);
    AtomicInteger n = new AtomicInteger();
    int threads = options.maxConcurrent() + SPARE_THREADS;
    this.pool =
        new ThreadPoolExecutor(
            threads,
            threads,
            60,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(null, r, "serve-" + n.incrementAndGet(), BigStack.STACK_BYTES);
              t.setDaemon(true);
              return t;
            });
    pool.allowCoreThreadTimeOut(true);
    http.createContext("/", this::handle);
    http.setExecutor(pool);
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
    HttpServer http;
    try {
      http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 0);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
    }
    ModelRegistry registry = new ModelRegistry(base, options.poll(), options.loadRetries(), log);
    RestServer server = new RestServer(options, registry, log, http);
    http.start();
    return server;
  }

  /** The port the server listens on (the real one when started with port 0). */
  public int port() {
    return http.getAddress().getPort();
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

  /** The training runs shown by the web page. */
  RunCatalog runs() {
    return runs;
  }

  /** The URL of the web page. */
  public URI pageUrl() {
    return url().resolve("/");
  }

  public Options options() {
    return options;
  }

  /** Predictions running now. */
  public int running() {
    return running.get();
  }

  private void handle(HttpExchange exchange) {
    active.incrementAndGet();
    try {
      answer(exchange);
    } finally {
      active.decrementAndGet();
    }
  }

  private void answer(HttpExchange exchange) {
    long start = System.nanoTime();
    String method = exchange.getRequestMethod();
    String path = exchange.getRequestURI().getRawPath();
    int status;
    Reply reply;
    try {
      reply = route(exchange, method, path);
      status = 200;
    } catch (ServingException e) {
      status = e.code().httpStatus();
      reply = Reply.json(error(e.getMessage()));
      if (status >= 500) {
        log.error(method + " " + path + ": " + e.getMessage(), null);
      }
    } catch (RuntimeException | Error e) {
      log.error(method + " " + path + " failed", e);
      status = ErrorCode.INTERNAL.httpStatus();
      reply =
          Reply.json(
              error(
                  "internal error ("
                      + e.getClass().getSimpleName()
                      + "); the details are in the server's log"));
    }
    try {
      exchange.getResponseHeaders().set("Content-Type", reply.contentType());
      reply.headers().forEach((k, v) -> exchange.getResponseHeaders().set(k, v));
      exchange.sendResponseHeaders(status, reply.body().length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(reply.body());
      }
    } catch (IOException e) {
      log.info(method + " " + path + ": the client went away before the answer (" + e + ")");
    } finally {
      exchange.close();
    }
    if (options.logRequests()) {
      log.info(
          String.format(
              "%s %s %d %.0f ms", method, path, status, (System.nanoTime() - start) / 1e6));
    }
  }

  /** A successful answer: its content type, body and any headers besides Content-Type. */
  record Reply(String contentType, byte[] body, Map<String, String> headers) {
    static Reply json(byte[] body) {
      return new Reply("application/json", body, Map.of());
    }

    /** A file of the web page or of a run: revalidated on each use, never sniffed. */
    static Reply file(String contentType, byte[] body) {
      return new Reply(
          contentType,
          body,
          Map.of("Cache-Control", "no-cache", "X-Content-Type-Options", "nosniff"));
    }

    /** This reply with one more header. */
    Reply with(String header, String value) {
      Map<String, String> more = new LinkedHashMap<>(headers);
      more.put(header, value);
      return new Reply(contentType, body, Map.copyOf(more));
    }
  }

  private Reply route(HttpExchange exchange, String method, String path) {
    if (closing) {
      throw new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down");
    }
    Optional<WebPage.Resource> file = page.find(path);
    if (file.isPresent()) {
      requireMethod(exchange, "GET");
      Reply r = Reply.file(file.get().contentType(), file.get().body());
      return file.get().isPage()
          ? r.with("Content-Security-Policy", WebPage.CONTENT_SECURITY_POLICY)
              .with("Referrer-Policy", "no-referrer")
          : r;
    }
    if (path.equals("/v1/models") || path.equals("/v1/models/")) {
      requireMethod(exchange, "GET");
      registry.scanAll();
      return Reply.json(ModelListing.write(registry, options.maxBatch()));
    }
    if (path.equals("/v1/runs") || path.equals("/v1/runs/")) {
      requireMethod(exchange, "GET");
      return Reply.json(runs.listing());
    }
    if (path.startsWith("/v1/runs/")) {
      return runFile(exchange, path);
    }
    Matcher m = ROUTE.matcher(path);
    if (!m.matches()) {
      throw ServingException.notFound(
          "Malformed request: %s %s (this server answers GET /v1/models/NAME[/versions/N]"
              + "[/metadata] and POST /v1/models/NAME[/versions/N]:predict, and its extensions"
              + " GET /v1/models, GET /v1/runs and the web page at /)",
          method, path);
    }
    String name = m.group(1);
    if (m.group(3) != null) {
      throw ServingException.notFound(
          "version labels are not supported by this server; use /versions/N (%s %s)", method, path);
    }
    OptionalLong version = OptionalLong.empty();
    if (m.group(2) != null) {
      if (!m.group(2).matches("[0-9]{1,18}")) {
        throw ServingException.notFound(
            "Malformed request: %s %s (the version must be a number)", method, path);
      }
      version = OptionalLong.of(Long.parseLong(m.group(2)));
    }
    String verb = m.group(4);
    if (verb == null || verb.equals("/metadata")) {
      requireMethod(exchange, "GET");
      return Reply.json(verb == null ? status(name, version) : metadata(name, version));
    }
    switch (verb) {
      case ":predict" -> {
        requireMethod(exchange, "POST");
        return Reply.json(predict(exchange, name, version));
      }
      case ":classify", ":regress" ->
          throw new ServingException(
              ErrorCode.UNIMPLEMENTED,
              String.format(
                  "%s is not served; the models here have predict signatures: use :predict", verb));
      default ->
          throw ServingException.notFound(
              "Malformed request: %s %s (unknown verb %s; use :predict)", method, path, verb);
    }
  }

  /**
   * {@code GET /v1/runs/NAME/metrics.csv}, {@code config.json} or {@code samples/step-N.png}: only
   * names that {@code GET /v1/runs} lists (see {@link RunCatalog}).
   */
  private Reply runFile(HttpExchange exchange, String path) {
    Matcher m = RUN_FILE.matcher(path);
    if (!m.matches()) {
      throw ServingException.notFound(
          "Malformed request: %s (runs serve /v1/runs/NAME/metrics.csv, /v1/runs/NAME/config.json"
              + " and /v1/runs/NAME/samples/step-N.png)",
          path);
    }
    requireMethod(exchange, "GET");
    String name = decode(m.group(1));
    Path file;
    String type;
    if (m.group(3) != null) {
      file = runs.sample(name, decode(m.group(3)));
      type = "image/png";
    } else if (m.group(2).equals("metrics.csv")) {
      file = runs.metrics(name);
      type = "text/csv; charset=utf-8";
    } else {
      file = runs.config(name);
      type = "application/json";
    }
    try {
      return Reply.file(type, Files.readAllBytes(file));
    } catch (IOException e) {
      throw ServingException.notFound("cannot read %s of run %s: %s", file.getFileName(), name, e);
    }
  }

  /** A percent-decoded URL path segment (a run name may hold spaces or other characters). */
  private static String decode(String segment) {
    try {
      return URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw ServingException.notFound("Malformed request: bad percent-encoding in '%s'", segment);
    }
  }

  private static void requireMethod(HttpExchange exchange, String wanted) {
    String method = exchange.getRequestMethod();
    String path = exchange.getRequestURI().getRawPath();
    if (!method.equals(wanted)) {
      exchange.getResponseHeaders().set("Allow", wanted);
      throw new ServingException(
          ErrorCode.METHOD_NOT_ALLOWED,
          String.format("%s %s: this URL takes %s", method, path, wanted));
    }
  }

  private byte[] status(String name, OptionalLong version) {
    List<ModelRegistry.VersionStatus> statuses = registry.status(name, version);
    return json(
        g -> {
          g.writeStartObject();
          g.writeArrayFieldStart("model_version_status");
          for (ModelRegistry.VersionStatus s : statuses) {
            g.writeStartObject();
            g.writeStringField("version", String.valueOf(s.version()));
            g.writeStringField("state", s.state().name());
            g.writeObjectFieldStart("status");
            g.writeStringField("error_code", s.code().name());
            g.writeStringField("error_message", s.message());
            g.writeEndObject();
            g.writeEndObject();
          }
          g.writeEndArray();
          g.writeEndObject();
        });
  }

  private byte[] metadata(String name, OptionalLong version) {
    ServableModel model = registry.acquire(name, version);
    try {
      return json(
          g -> {
            g.writeStartObject();
            g.writeObjectFieldStart("model_spec");
            g.writeStringField("name", model.name());
            g.writeStringField("signature_name", "");
            g.writeStringField("version", String.valueOf(model.version()));
            g.writeEndObject();
            g.writeObjectFieldStart("metadata");
            g.writeObjectFieldStart("signature_def");
            g.writeObjectFieldStart("signature_def");
            for (SignatureSpec s : model.signatures().values()) {
              g.writeObjectFieldStart(s.key());
              writeTensorInfos(g, "inputs", s.inputs());
              writeTensorInfos(g, "outputs", s.outputs());
              g.writeStringField("method_name", s.methodName());
              g.writeEndObject();
            }
            g.writeEndObject();
            g.writeEndObject();
            g.writeEndObject();
            g.writeEndObject();
          });
    } finally {
      model.release();
    }
  }

  private static void writeTensorInfos(JsonGenerator g, String field, Map<String, TensorSpec> specs)
      throws IOException {
    g.writeObjectFieldStart(field);
    for (TensorSpec t : specs.values()) {
      g.writeObjectFieldStart(t.alias());
      g.writeStringField("dtype", t.dtype().name());
      g.writeObjectFieldStart("tensor_shape");
      g.writeArrayFieldStart("dim");
      if (!t.unknownRank()) {
        for (long d : t.dims()) {
          g.writeStartObject();
          g.writeStringField("size", String.valueOf(d));
          g.writeStringField("name", "");
          g.writeEndObject();
        }
      }
      g.writeEndArray();
      g.writeBooleanField("unknown_rank", t.unknownRank());
      g.writeEndObject();
      g.writeStringField("name", t.tensorName());
      g.writeEndObject();
    }
    g.writeEndObject();
  }

  private byte[] predict(HttpExchange exchange, String name, OptionalLong version) {
    PredictRequest request = PredictRequest.parse(readBody(exchange));
    ServableModel model = registry.acquire(name, version);
    try {
      SignatureSpec signature = model.predictSignature(request.signatureName());
      Map<String, HostTensor> inputs = request.inputs(signature, options.maxBatch());
      ValueChecks.checkInputs(model, inputs);
      Map<String, HostTensor> outputs = run(model, signature, inputs);
      ValueChecks.checkOutputs(model, outputs);
      return PredictResponse.write(request.format(), outputs);
    } finally {
      model.release();
    }
  }

  /** Runs a prediction in one of the {@code maxConcurrent} slots, waiting for one if need be. */
  Map<String, HostTensor> run(
      ServableModel model, SignatureSpec signature, Map<String, HostTensor> inputs) {
    boolean acquired;
    try {
      acquired = slots.tryAcquire(options.queueTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down");
    }
    if (!acquired) {
      throw new ServingException(
          ErrorCode.RESOURCE_EXHAUSTED,
          String.format(
              "the server is busy: %d predictions are running (serve --max-concurrent) and this"
                  + " one waited %d s for a slot (--queue-timeout); retry later",
              options.maxConcurrent(), options.queueTimeout().toSeconds()));
    }
    running.incrementAndGet();
    try {
      return model.predict(signature, inputs);
    } finally {
      running.decrementAndGet();
      slots.release();
    }
  }

  private byte[] readBody(HttpExchange exchange) {
    try (InputStream in = exchange.getRequestBody()) {
      long limit = options.maxBodyBytes();
      byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
      if (body.length > limit) {
        throw new ServingException(
            ErrorCode.PAYLOAD_TOO_LARGE,
            String.format("the request body is over this server's limit of %d bytes", limit));
      }
      return body;
    } catch (IOException e) {
      throw ServingException.invalid("cannot read the request body: %s", e.getMessage());
    }
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
   * Stops accepting requests, lets the running ones finish (up to {@code grace}), then closes every
   * loaded model.
   */
  public void close(Duration grace) {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    closing = true;
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
              + grace.toSeconds()
              + " s; closing anyway");
    }
    http.stop(0);
    pool.shutdownNow();
    registry.close();
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(5));
  }
}
