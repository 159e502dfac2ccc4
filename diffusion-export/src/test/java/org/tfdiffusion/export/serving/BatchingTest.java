package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;
import org.tfdiffusion.export.TinyRun;

/**
 * Request batching: concurrent single-image requests merged into one graph run give, seed by seed,
 * the same images as the same requests served one by one.
 */
class BatchingTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path dir;
  static Path base;
  static RestServer plain;

  @BeforeAll
  static void start() {
    base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    plain = RestServer.start(base, RestServer.Options.defaults().withPort(0), ServerLog.quiet());
  }

  @AfterAll
  static void stop() {
    if (plain != null) {
      plain.close();
    }
  }

  /** A server that merges up to {@code max} rows, waiting up to 60 s for a batch to fill. */
  static RestServer batching(int max) {
    return RestServer.start(
        base,
        RestServer.Options.defaults()
            .withPort(0)
            .withBatching(new BatchingOptions(true, max, Duration.ofSeconds(60), 10, 1, List.of())),
        ServerLog.quiet());
  }

  static String row(long seed, int label) {
    return "{\"instances\": [{\"seed\": "
        + seed
        + ", \"class_label\": "
        + label
        + ", \"guidance_scale\": 2.5}]}";
  }

  /** Sends the bodies at once and returns the answers in order. */
  static List<HttpResponse<String>> concurrently(RestServer s, List<String> bodies) {
    List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
    for (String body : bodies) {
      sent.add(
          MonitoringTest.client.sendAsync(
              HttpRequest.newBuilder(URI.create(s.url() + "/v1/models/fashion:predict"))
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    return sent.stream().map(CompletableFuture::join).toList();
  }

  @Test
  void mergedRequestsGiveTheSameImagesSeedBySeed() throws Exception {
    long[] seeds = {11, 12, 13, 14};
    List<String> bodies = new ArrayList<>();
    for (int i = 0; i < seeds.length; i++) {
      bodies.add(row(seeds[i], i % 10));
    }
    List<HttpResponse<String>> batched;
    String scrape;
    try (RestServer s = batching(seeds.length)) {
      batched = concurrently(s, bodies);
      scrape = MonitoringTest.send(s, "GET", ServingMetrics.PATH, null).body();
    }
    // the four requests ran as one graph run of four rows
    Map<String, Double> metrics = MonitoringTest.samples(scrape);
    String labels = "{model=\"fashion\",signature=\"serving_default\"}";
    assertThat(metrics)
        .containsEntry("tfdiffusion_serving_batch_size_count" + labels, 1.0)
        .containsEntry("tfdiffusion_serving_batch_size_sum" + labels, 4.0);
    for (int i = 0; i < seeds.length; i++) {
      HttpResponse<String> alone =
          MonitoringTest.send(plain, "POST", "/v1/models/fashion:predict", bodies.get(i));
      assertThat(batched.get(i).statusCode()).as(batched.get(i).body()).isEqualTo(200);
      assertThat(alone.statusCode()).isEqualTo(200);
      JsonNode b = JSON.readTree(batched.get(i).body()).path("predictions");
      JsonNode a = JSON.readTree(alone.body()).path("predictions");
      assertThat(b).hasSize(1);
      // identical PNG bytes and identical float pixels
      assertThat(b.get(0).path("images_png_bytes").path("b64").asText())
          .isEqualTo(a.get(0).path("images_png_bytes").path("b64").asText());
      assertThat(RestServerTest.floats(b.get(0).path("images")))
          .containsExactly(RestServerTest.floats(a.get(0).path("images")));
    }
  }

  @Test
  void aBadRequestInABatchFailsAlone() throws Exception {
    List<String> bodies = List.of(row(21, 1), row(22, 99), row(23, 3));
    List<HttpResponse<String>> answers;
    try (RestServer s = batching(bodies.size())) {
      answers = concurrently(s, bodies);
    }
    assertThat(answers.get(0).statusCode()).isEqualTo(200);
    assertThat(answers.get(1).statusCode()).isEqualTo(400);
    assertThat(answers.get(1).body()).contains("class_label must be in [0, 9]");
    assertThat(answers.get(2).statusCode()).isEqualTo(200);
    HttpResponse<String> alone =
        MonitoringTest.send(plain, "POST", "/v1/models/fashion:predict", bodies.get(2));
    assertThat(
            JSON.readTree(answers.get(2).body()).at("/predictions/0/images_png_bytes/b64").asText())
        .isEqualTo(JSON.readTree(alone.body()).at("/predictions/0/images_png_bytes/b64").asText());
  }

  /**
   * A request that came while the batch thread was busy gets {@code batch_timeout_micros} from the
   * moment the thread is free, so a request sent once the busy run has answered joins it: two runs
   * (the busy one, then both requests merged), not three.
   */
  @Test
  void aRequestThatWaitedForABusyThreadGetsTheTimeoutFromWhenTheThreadIsFree() throws Exception {
    int big = 48;
    String slow = MonitoringTest.predictRows(IntStream.range(100, 100 + big).toArray());
    HttpResponse<String> warm =
        MonitoringTest.send(plain, "POST", "/v1/models/fashion:predict", slow);
    assertThat(warm.statusCode()).as(warm.body()).isEqualTo(200);
    long t0 = System.nanoTime();
    MonitoringTest.send(plain, "POST", "/v1/models/fashion:predict", slow);
    Duration runTime = Duration.ofNanos(System.nanoTime() - t0);
    // the window is a third of the slow run: the waiting request's own timeout would end inside it
    Duration window = runTime.dividedBy(3);
    assertThat(window)
        .as("a run of %d rows (%s) leaves room for the window", big, runTime)
        .isGreaterThan(Duration.ofMillis(60));
    try (RestServer s =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withBatching(new BatchingOptions(true, big, window, 10, 1, List.of())),
            ServerLog.quiet())) {
      assertThat(concurrently(s, List.of(row(1, 1))).get(0).statusCode()).isEqualTo(200); // loads
      CompletableFuture<List<HttpResponse<String>>> busy =
          CompletableFuture.supplyAsync(() -> concurrently(s, List.of(slow))); // full: runs at once
      Thread.sleep(window.toMillis() / 4);
      CompletableFuture<List<HttpResponse<String>>> waiting =
          CompletableFuture.supplyAsync(() -> concurrently(s, List.of(row(7, 1))));
      assertThat(busy.join().get(0).statusCode()).isEqualTo(200);
      HttpResponse<String> after = concurrently(s, List.of(row(8, 2))).get(0);
      assertThat(after.statusCode()).as(after.body()).isEqualTo(200);
      assertThat(waiting.join().get(0).statusCode()).isEqualTo(200);
      String labels = "{model=\"fashion\",signature=\"serving_default\"}";
      Map<String, Double> metrics =
          MonitoringTest.samples(MonitoringTest.send(s, "GET", ServingMetrics.PATH, null).body());
      assertThat(metrics.get("tfdiffusion_serving_batch_size_count" + labels))
          .as("runs: the first request, the slow one, then the two merged")
          .isEqualTo(3.0);
      assertThat(metrics.get("tfdiffusion_serving_batch_size_sum" + labels))
          .isEqualTo(1.0 + big + 2);
    }
  }

  @Test
  void mergeAndSplitKeepRowsAndPadWithTheLastRow() {
    HostTensor a = new HostTensor(DataType.DT_INT64, new long[] {2}, new long[] {5, 6});
    HostTensor rows = BatchScheduler.rows(a, 1, 1);
    assertThat((long[]) rows.values()).containsExactly(6);
    assertThat(rows.shape()).containsExactly(1);
    HostTensor image =
        new HostTensor(DataType.DT_FLOAT, new long[] {3, 2}, new float[] {0, 1, 2, 3, 4, 5});
    assertThat(BatchScheduler.rows(image, 1, 2).floats()).containsExactly(2, 3, 4, 5);
    BatchingOptions padded = new BatchingOptions(true, 8, Duration.ZERO, 10, 1, List.of(2, 4, 8));
    assertThat(padded.paddedSize(1)).isEqualTo(2);
    assertThat(padded.paddedSize(3)).isEqualTo(4);
    assertThat(padded.paddedSize(8)).isEqualTo(8);
    assertThat(BatchingOptions.defaults(2, true).paddedSize(3)).isEqualTo(3);
  }

  @Test
  void parametersAreCheckedAndReadFromTensorFlowServingsFile() throws Exception {
    assertThatThrownBy(() -> new BatchingOptions(true, 8, Duration.ZERO, 10, 1, List.of(2, 4)))
        .hasMessage(
            "the last entry of allowed_batch_sizes must equal max_batch_size; it is 4,"
                + " max_batch_size is 8");
    assertThatThrownBy(() -> new BatchingOptions(true, 0, Duration.ZERO, 10, 1, List.of()))
        .hasMessage("max_batch_size must be at least 1, not 0");
    Path file = dir.resolve("batching.txt");
    Files.writeString(
        file,
        "# as for tensorflow_model_server\n"
            + "max_batch_size { value: 16 }\n"
            + "batch_timeout_micros { value: 2000 }\n"
            + "max_enqueued_batches { value: 3 }\n"
            + "num_batch_threads { value: 2 }\n"
            + "allowed_batch_sizes: 4\n"
            + "allowed_batch_sizes: 16\n");
    BatchingOptions read = BatchingOptions.defaults(1, true).withFile(file);
    assertThat(read)
        .isEqualTo(
            new BatchingOptions(true, 16, Duration.ofNanos(2_000_000), 3, 2, List.of(4, 16)));
    Files.writeString(file, "pad_variable_length_inputs: true\n");
    assertThatThrownBy(() -> BatchingOptions.defaults(1, true).withFile(file))
        .hasMessageContaining("pad_variable_length_inputs is not supported");
  }
}
