package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/**
 * The Prometheus endpoint scraped after real requests, and the Kubernetes probes, on a server of
 * its own (so that the counts are this test's alone).
 */
class MonitoringTest {
  @TempDir static Path dir;
  static RestServer server;
  static final HttpClient client =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void start() {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withMaxBatch(8).withMaxConcurrent(2),
            ServerLog.quiet());
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  static HttpResponse<String> send(String method, String path, String body) throws Exception {
    return send(server, method, path, body);
  }

  static HttpResponse<String> send(RestServer to, String method, String path, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(to.url() + path));
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Every sample of a scrape: {@code name{labels}} to its value. */
  static Map<String, Double> samples(String text) {
    Map<String, Double> out = new HashMap<>();
    Pattern line = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{.*\\})?) (\\S+)$");
    for (String l : text.split("\n")) {
      if (l.startsWith("#") || l.isBlank()) {
        continue;
      }
      Matcher m = line.matcher(l);
      assertThat(m.matches()).as("a sample line: %s", l).isTrue();
      out.put(m.group(1), Double.parseDouble(m.group(2)));
    }
    return out;
  }

  static String predictRows(int... seeds) {
    StringBuilder b = new StringBuilder("{\"instances\": [");
    for (int i = 0; i < seeds.length; i++) {
      b.append(i > 0 ? ", " : "")
          .append("{\"seed\": ")
          .append(seeds[i])
          .append(", \"class_label\": 3, \"guidance_scale\": 2.0}");
    }
    return b.append("]}").toString();
  }

  @Test
  void scrapeCountsRequestsByModelSignatureAndStatus() throws Exception {
    assertThat(send("GET", "/healthz", null).statusCode()).isEqualTo(200);

    assertThat(send("POST", "/v1/models/fashion:predict", predictRows(1)).statusCode())
        .isEqualTo(200);
    assertThat(send("POST", "/v1/models/fashion:predict", predictRows(2, 3, 4)).statusCode())
        .isEqualTo(200);
    // a wrong type: 400, still labelled with the model and signature
    assertThat(
            send(
                    "POST",
                    "/v1/models/fashion:predict",
                    "{\"instances\": [{\"seed\": 1.5, \"class_label\": 3, \"guidance_scale\": 2}]}")
                .statusCode())
        .isEqualTo(400);
    // unknown names never become label values
    assertThat(send("POST", "/v1/models/nosuchmodel:predict", predictRows(1)).statusCode())
        .isEqualTo(404);
    assertThat(send("GET", "/v1/models/fashion/metadata", null).statusCode()).isEqualTo(200);

    HttpResponse<String> scrape = send("GET", ServingMetrics.PATH, null);
    assertThat(scrape.statusCode()).isEqualTo(200);
    assertThat(scrape.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    Map<String, Double> s = samples(scrape.body());

    String ok =
        "tfdiffusion_serving_requests_total{api=\"predict\",model=\"fashion\",protocol=\"rest\","
            + "signature=\"serving_default\",status=\"OK\",version=\"1\"}";
    String invalid = ok.replace("OK", "INVALID_ARGUMENT");
    String unknown =
        "tfdiffusion_serving_requests_total{api=\"predict\",model=\"\",protocol=\"rest\","
            + "signature=\"\",status=\"NOT_FOUND\",version=\"\"}";
    String metadata =
        "tfdiffusion_serving_requests_total{api=\"metadata\",model=\"fashion\",protocol=\"rest\","
            + "signature=\"\",status=\"OK\",version=\"1\"}";
    assertThat(s).containsEntry(ok, 2.0).containsEntry(invalid, 1.0);
    assertThat(s).containsEntry(unknown, 1.0).containsEntry(metadata, 1.0);
    assertThat(s.keySet()).noneMatch(k -> k.contains("nosuchmodel"));

    String latency =
        "tfdiffusion_serving_request_duration_seconds_count{api=\"predict\",model=\"fashion\","
            + "protocol=\"rest\",signature=\"serving_default\"}";
    assertThat(s).containsEntry(latency, 3.0);
    assertThat(
            s.get(
                "tfdiffusion_serving_request_duration_seconds_bucket{api=\"predict\","
                    + "model=\"fashion\",protocol=\"rest\",signature=\"serving_default\","
                    + "le=\"+Inf\"}"))
        .isEqualTo(3.0);

    // two graph runs, of 1 and 3 rows; the refused request never ran
    String batch = "{model=\"fashion\",signature=\"serving_default\"}";
    assertThat(s)
        .containsEntry("tfdiffusion_serving_batch_size_count" + batch, 2.0)
        .containsEntry("tfdiffusion_serving_batch_size_sum" + batch, 4.0)
        .containsEntry(
            "tfdiffusion_serving_batch_size_bucket{model=\"fashion\",signature=\"serving_default\","
                + "le=\"2.0\"}",
            1.0);

    assertThat(s)
        .containsEntry(
            "tfdiffusion_serving_model_version_state{model=\"fashion\",state=\"AVAILABLE\","
                + "version=\"1\"}",
            1.0)
        .containsEntry(
            "tfdiffusion_serving_model_version_state{model=\"fashion\",state=\"END\","
                + "version=\"1\"}",
            0.0)
        .containsEntry(
            "tfdiffusion_serving_model_version_loaded{model=\"fashion\",version=\"1\"}", 1.0)
        .containsEntry("tfdiffusion_serving_queue_depth{queue=\"slots\"}", 0.0)
        .containsEntry("tfdiffusion_serving_predictions_running", 0.0);
    assertThat(s.get("jvm_memory_used_bytes{area=\"heap\"}")).isPositive();
    assertThat(s.get("process_resident_memory_bytes")).isPositive();
    assertThat(s.get("tfdiffusion_serving_native_memory_bytes")).isPositive();
  }

  @Test
  void readinessWaitsForEveryModelToLoad() throws Exception {
    Path base = dir.resolve("probe-models");
    TinyRun.export(base, "probed", () -> {});
    try (RestServer s =
        RestServer.start(base, RestServer.Options.defaults().withPort(0), ServerLog.quiet())) {
      assertThat(s.registry().isLoaded("probed", 1)).isFalse();
      HttpResponse<String> first = send(s, "GET", "/readyz", null);
      assertThat(first.statusCode()).isEqualTo(503);
      assertThat(first.body()).contains("not ready: waiting for probed version 1 (loading)");
      long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
      HttpResponse<String> r = first;
      while (r.statusCode() != 200 && System.nanoTime() < deadline) {
        Thread.sleep(100);
        r = send(s, "GET", "/readyz", null);
      }
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("{\"status\":\"ready\",\"models\":[\"probed\"]}");
      assertThat(s.registry().isLoaded("probed", 1)).isTrue();
      assertThat(send(s, "POST", "/readyz", null).statusCode()).isEqualTo(405);
    }
  }

  @Test
  void readinessRefusesAnEmptyBase() throws Exception {
    Path empty = dir.resolve("empty");
    java.nio.file.Files.createDirectories(empty);
    try (RestServer s =
        RestServer.start(empty, RestServer.Options.defaults().withPort(0), ServerLog.quiet())) {
      HttpResponse<String> r = send(s, "GET", "/readyz", null);
      assertThat(r.statusCode()).isEqualTo(503);
      assertThat(r.body()).contains("not ready: no models under");
      assertThat(send(s, "GET", "/healthz", null).statusCode()).isEqualTo(200);
    }
  }
}
