package org.tfdiffusion.export.serving;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.IntSupplier;

/**
 * The server's Prometheus metrics, served at {@value #PATH} in Prometheus' text format (TensorFlow
 * Serving's path), through the Prometheus Java client:
 *
 * <ul>
 *   <li>{@code tfdiffusion_serving_requests_total{protocol, api, model, version, signature,
 *       status}}: model API calls (predict, metadata, status) by outcome, {@code status} being
 *       TensorFlow's code name ({@code OK}, {@code INVALID_ARGUMENT}, ...);
 *   <li>{@code tfdiffusion_serving_request_duration_seconds{protocol, api, model, signature}}:
 *       their latency, from the complete request to the answer, as a histogram;
 *   <li>{@code tfdiffusion_serving_batch_size{model, signature}}: rows per graph run (with
 *       batching, the merged batch, padding included);
 *   <li>{@code tfdiffusion_serving_queue_depth{queue}}: predictions waiting for a slot ({@code
 *       slots}) and requests waiting to be batched ({@code batching});
 *   <li>{@code tfdiffusion_serving_predictions_running}, {@code
 *       tfdiffusion_serving_open_connections};
 *   <li>{@code tfdiffusion_serving_model_version_state{model, version, state}}: 1 for each
 *       version's state ({@code LOADING}, {@code AVAILABLE}, {@code END}), 0 for the others, and
 *       {@code tfdiffusion_serving_model_version_loaded{model, version}};
 *   <li>the JVM's and the process's metrics ({@code jvm_memory_used_bytes}, {@code
 *       jvm_gc_collection_seconds}, {@code process_resident_memory_bytes}, ...) and {@code
 *       tfdiffusion_serving_native_memory_bytes}: resident memory outside the JVM's heap and
 *       non-heap pools, which is mostly TensorFlow's (graphs, kernels, tensors).
 * </ul>
 *
 * Label values come only from models, versions and signatures that exist, never from what a request
 * names, so a client cannot grow the number of series.
 */
public final class ServingMetrics {
  /** Where TensorFlow Serving serves its Prometheus metrics. */
  public static final String PATH = "/monitoring/prometheus/metrics";

  /** Latency buckets in seconds: a status request takes milliseconds, a sampling run minutes. */
  private static final double[] LATENCY_BUCKETS = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500,
    1000
  };

  /** Batch size buckets: powers of two up to a large max_batch_size. */
  private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

  /** Where Linux reports a process' resident memory. */
  private static final Path PROC_STATUS = Path.of("/proc/self/status");

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
  private final ModelRegistry models;
  private final Counter requests;
  private final Histogram latency;
  private final Histogram batchSize;

  /**
   * @param models the models whose versions' states are reported
   * @param slotQueue predictions waiting for a slot now
   * @param batchQueue requests waiting to be batched now
   * @param running predictions running now
   * @param connections connections open now
   */
  ServingMetrics(
      ModelRegistry models,
      IntSupplier slotQueue,
      IntSupplier batchQueue,
      IntSupplier running,
      IntSupplier connections) {
    this.models = models;
    requests =
        Counter.builder()
            .name("tfdiffusion_serving_requests_total")
            .help("Model API requests (predict, metadata, status) by outcome")
            .labelNames("protocol", "api", "model", "version", "signature", "status")
            .register(registry);
    latency =
        Histogram.builder()
            .name("tfdiffusion_serving_request_duration_seconds")
            .help("Time from a complete model API request to its answer")
            .unit(Unit.SECONDS)
            .labelNames("protocol", "api", "model", "signature")
            .classicOnly()
            .classicUpperBounds(LATENCY_BUCKETS)
            .register(registry);
    batchSize =
        Histogram.builder()
            .name("tfdiffusion_serving_batch_size")
            .help("Rows per graph run (with batching: the merged batch, padding included)")
            .labelNames("model", "signature")
            .classicOnly()
            .classicUpperBounds(BATCH_BUCKETS)
            .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_queue_depth")
        .help(
            "Predictions waiting for a slot (slots) and requests waiting to be batched (batching)")
        .labelNames("queue")
        .callback(
            cb -> {
              cb.call(slotQueue.getAsInt(), "slots");
              cb.call(batchQueue.getAsInt(), "batching");
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_predictions_running")
        .help("Graph runs in progress, those whose client hung up included")
        .callback(cb -> cb.call(running.getAsInt()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_open_connections")
        .help("HTTP connections open now")
        .callback(cb -> cb.call(connections.getAsInt()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_model_version_state")
        .help("1 for the state each model version is in (LOADING, AVAILABLE, END), 0 otherwise")
        .labelNames("model", "version", "state")
        .callback(
            cb -> {
              for (String name : models.modelNames()) {
                for (ModelRegistry.VersionEntry v : models.entries(name)) {
                  for (ModelRegistry.State s : ModelRegistry.State.values()) {
                    cb.call(v.state() == s ? 1 : 0, name, String.valueOf(v.version()), s.name());
                  }
                }
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_model_version_loaded")
        .help("1 for a model version loaded in memory, 0 for one on disk only")
        .labelNames("model", "version")
        .callback(
            cb -> {
              for (String name : models.modelNames()) {
                for (ModelRegistry.VersionEntry v : models.entries(name)) {
                  cb.call(v.loaded() ? 1 : 0, name, String.valueOf(v.version()));
                }
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("tfdiffusion_serving_native_memory_bytes")
        .help(
            "Resident memory outside the JVM's heap and non-heap pools: mostly TensorFlow's"
                + " graphs, kernels and tensors")
        .unit(Unit.BYTES)
        .callback(
            cb -> {
              long rss = residentBytes();
              if (rss > 0) {
                MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
                MemoryUsage nonHeap = ManagementFactory.getMemoryMXBean().getNonHeapMemoryUsage();
                cb.call(Math.max(0, rss - heap.getCommitted() - nonHeap.getCommitted()));
              }
            })
        .register(registry);
    JvmMetrics.builder().register(registry);
  }

  /** Counts one answered model API call and its latency. */
  void record(RequestFacts facts, double seconds) {
    if (facts.api() == null) {
      return;
    }
    String model = knownModel(facts.model());
    String version = model.isEmpty() || facts.version() < 0 ? "" : String.valueOf(facts.version());
    String signature = model.isEmpty() ? "" : facts.signature();
    String protocol = facts.protocol().label();
    String api = facts.api().label();
    requests.labelValues(protocol, api, model, version, signature, facts.code().name()).inc();
    latency.labelValues(protocol, api, model, signature).observe(seconds);
  }

  /** Counts one graph run of {@code rows} rows. */
  void recordRun(String model, String signature, int rows) {
    batchSize.labelValues(model, signature).observe(rows);
  }

  /** The model's name if the registry knows it, else empty. */
  private String knownModel(String name) {
    return name.isEmpty() || models.versions(name).isEmpty() ? "" : name;
  }

  /** Every metric in Prometheus' text format. */
  byte[] scrape() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(16384);
    try {
      writer.write(out, registry.scrape());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** The content type of {@link #scrape}. */
  String contentType() {
    return writer.getContentType();
  }

  /** The process' resident memory in bytes, or -1 where /proc is not there. */
  private static long residentBytes() {
    try {
      for (String line : Files.readAllLines(PROC_STATUS)) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.substring("VmRSS:".length()).trim().split("\\s+");
          return Long.parseLong(parts[0]) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }
}
