package org.tfdiffusion.export.serving.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.tfdiffusion.export.serving.BatchingOptions;
import org.tfdiffusion.export.serving.PredictRequest;
import org.tfdiffusion.export.serving.RestServer;
import org.tfdiffusion.export.serving.ServableModel;
import org.tfdiffusion.export.serving.ServerLog;
import org.tfdiffusion.export.serving.ServingMetrics;
import org.tfdiffusion.export.serving.SignatureSpec;

/**
 * Concurrent single-image clients against the REST server, with and without request batching: for
 * each number of clients, every client sends its requests one after the other (one image each,
 * seeds unique across clients), once to a server without batching and once to one with it. Reports
 * images/s, latency percentiles and the mean rows per graph run, and checks that every seed gave
 * the same PNG both ways.
 */
public final class ConcurrencyBenchmark {
  /**
   * How to run.
   *
   * @param clients the numbers of concurrent clients, e.g. 1, 4, 16, 64
   * @param requests requests per client per run
   * @param batching the batching options of the batched runs (enabled)
   */
  public record Settings(
      Path base,
      String model,
      List<Integer> clients,
      int requests,
      float guidance,
      BatchingOptions batching) {}

  /** One number of clients, with or without batching. */
  public record Row(
      int clients,
      boolean batching,
      int images,
      double seconds,
      double imagesPerSecond,
      double p50Ms,
      double p90Ms,
      double p99Ms,
      double meanRunRows) {}

  /** Everything measured; {@code differentImages} counts seeds whose PNG differed between modes. */
  public record Report(String model, int cores, List<Row> rows, int differentImages) {
    /** The figures as a markdown table, with the speed-up of batching per number of clients. */
    public String markdown() {
      StringBuilder s = new StringBuilder();
      s.append(
          "| clients | batching | images | images/s | p50 ms | p90 ms | p99 ms | rows per run |"
              + " speed-up |\n");
      s.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
      for (Row r : rows) {
        String speedup = "";
        if (r.batching()) {
          speedup =
              rows.stream()
                  .filter(o -> !o.batching() && o.clients() == r.clients())
                  .findFirst()
                  .map(
                      o ->
                          String.format(
                              Locale.ROOT, "%.2fx", r.imagesPerSecond() / o.imagesPerSecond()))
                  .orElse("");
        }
        s.append(
            String.format(
                Locale.ROOT,
                "| %d | %s | %d | %.2f | %.1f | %.1f | %.1f | %.2f | %s |%n",
                r.clients(),
                r.batching() ? "on" : "off",
                r.images(),
                r.imagesPerSecond(),
                r.p50Ms(),
                r.p90Ms(),
                r.p99Ms(),
                r.meanRunRows(),
                speedup));
      }
      s.append(
          differentImages == 0
              ? "every seed gave the same image with and without batching\n"
              : differentImages + " seeds gave different images with and without batching\n");
      return s.toString();
    }
  }

  private ConcurrencyBenchmark() {}

  /** Runs every number of clients without, then with batching. */
  public static Report run(Settings settings, Consumer<String> progress) {
    List<Row> rows = new ArrayList<>();
    Map<Long, String> plain = new ConcurrentHashMap<>();
    Map<Long, String> batched = new ConcurrentHashMap<>();
    int maxClients = settings.clients().stream().mapToInt(Integer::intValue).max().orElse(1);
    for (int clients : settings.clients()) {
      for (boolean batching : new boolean[] {false, true}) {
        RestServer.Options options =
            RestServer.Options.defaults()
                .withPort(0)
                .withPoll(Duration.ZERO)
                .withQueueTimeout(Duration.ofHours(1));
        if (batching) {
          options = options.withBatching(settings.batching());
        }
        try (RestServer server = RestServer.start(settings.base(), options, ServerLog.quiet())) {
          Row row =
              measure(server, settings, clients, maxClients, batching ? batched : plain, batching);
          progress.accept(
              String.format(
                  Locale.ROOT,
                  "%d clients, batching %s: %.2f images/s, p50 %.0f ms",
                  clients,
                  batching ? "on" : "off",
                  row.imagesPerSecond(),
                  row.p50Ms()));
          rows.add(row);
        }
      }
    }
    int different = 0;
    for (Map.Entry<Long, String> e : plain.entrySet()) {
      if (!e.getValue().equals(batched.get(e.getKey()))) {
        different++;
      }
    }
    return new Report(
        settings.model(), Runtime.getRuntime().availableProcessors(), List.copyOf(rows), different);
  }

  private static Row measure(
      RestServer server,
      Settings settings,
      int clients,
      int maxClients,
      Map<Long, String> images,
      boolean batching) {
    URI uri = URI.create(server.url() + "/v1/models/" + settings.model() + ":predict");
    ServableModel model =
        server.registry().acquire(settings.model(), java.util.OptionalLong.empty());
    SignatureSpec signature;
    int classes;
    try {
      signature = model.predictSignature(java.util.Optional.empty());
      classes = model.metadata().map(m -> m.classNames().size()).orElse(0);
    } finally {
      model.release();
    }
    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .executor(Executors.newFixedThreadPool(4))
            .build();
    // warm up: one request, so that loading is not timed
    send(http, uri, signature, settings, -1, classes);
    List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long start = System.nanoTime();
    try {
      List<Future<?>> running = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        int client = c;
        running.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < settings.requests(); i++) {
                    long seed = (long) i * maxClients + client;
                    long t0 = System.nanoTime();
                    String png = send(http, uri, signature, settings, seed, classes);
                    latencies.add((System.nanoTime() - t0) / 1e6);
                    images.put(seed, png);
                  }
                  return null;
                }));
      }
      for (Future<?> f : running) {
        f.get();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(
          "a client failed: " + e.getCause().getMessage(), e.getCause());
    } finally {
      pool.shutdownNow();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    Map<String, Double> metrics = scrapeBatchSizes(http, server, settings.model());
    List<Double> sorted = new ArrayList<>(latencies);
    Collections.sort(sorted);
    int n = sorted.size();
    return new Row(
        clients,
        batching,
        n,
        seconds,
        n / seconds,
        percentile(sorted, 0.5),
        percentile(sorted, 0.9),
        percentile(sorted, 0.99),
        metrics.getOrDefault("count", 0.0) > 0
            ? metrics.get("sum") / metrics.get("count")
            : Double.NaN);
  }

  /** One single-image request; its PNG as base64. */
  private static String send(
      HttpClient http,
      URI uri,
      SignatureSpec signature,
      Settings settings,
      long seed,
      int classes) {
    String body =
        ServeBenchmark.body(
            PredictRequest.Format.ROW,
            ServeBenchmark.inputs(signature, 1, seed, classes, settings.guidance()));
    try {
      HttpResponse<byte[]> r =
          http.send(
              HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
              HttpResponse.BodyHandlers.ofByteArray());
      JsonNode json = PredictRequest.MAPPER.readTree(r.body());
      if (r.statusCode() != 200) {
        throw new IllegalStateException(
            "HTTP " + r.statusCode() + ": " + json.path("error").asText());
      }
      return json.at("/predictions/0/images_png_bytes/b64").asText();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The batch-size histogram's count and sum (the warm-up excluded). */
  private static Map<String, Double> scrapeBatchSizes(
      HttpClient http, RestServer server, String model) {
    try {
      String text =
          http.send(
                  HttpRequest.newBuilder(URI.create(server.url() + ServingMetrics.PATH)).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      Map<String, Double> out = new java.util.HashMap<>();
      String labels = "{model=\"" + model + "\",signature=\"serving_default\"} ";
      for (String line : text.split("\n")) {
        if (line.startsWith("tfdiffusion_serving_batch_size_count" + labels)) {
          out.put("count", Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)) - 1);
        } else if (line.startsWith("tfdiffusion_serving_batch_size_sum" + labels)) {
          out.put("sum", Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)) - 1);
        }
      }
      return out;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private static double percentile(List<Double> sorted, double q) {
    if (sorted.isEmpty()) {
      return Double.NaN;
    }
    int i = (int) Math.ceil(q * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }
}
