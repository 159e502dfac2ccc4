package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/**
 * A bounded flood: 64 connections that stall mid-request (half in their headers, half in their
 * bodies) while another client asks for model status; its answers keep their normal latency, and
 * the stalled connections are answered 408 and closed once their timeout passes.
 */
class RestServerFloodTest {
  static final int STALLED = 64;
  static final int SAMPLES = 81;
  static final Duration TIMEOUT = Duration.ofSeconds(5);

  /** After the stalled connections are open, before measuring: their opening is not the test. */
  static final Duration SETTLE = Duration.ofMillis(200);

  @TempDir Path dir;

  /** The median latency of {@link #SAMPLES} status requests, in milliseconds. */
  static double medianLatency(HttpClient client, URI status) throws Exception {
    double[] ms = new double[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
      long start = System.nanoTime();
      HttpResponse<String> r =
          client.send(HttpRequest.newBuilder(status).build(), HttpResponse.BodyHandlers.ofString());
      ms[i] = (System.nanoTime() - start) / 1e6;
      assertThat(r.statusCode()).isEqualTo(200);
    }
    Arrays.sort(ms);
    return ms[SAMPLES / 2];
  }

  @Test
  void sixtyFourStalledConnectionsLeaveOtherClientsTheirNormalLatency() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    try (RestServer server =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withPoll(Duration.ZERO)
                .withLimits(HttpLimits.defaults().withTimeouts(TIMEOUT, TIMEOUT, TIMEOUT)),
            ServerLog.quiet())) {
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      URI status = URI.create(server.url() + "/v1/models/fashion");
      for (int warmUp = 0; warmUp < 3; warmUp++) {
        medianLatency(client, status); // loads the model, warms up both sides
      }
      double normal = medianLatency(client, status);

      List<RawHttp> stalled = new ArrayList<>();
      double flooded;
      try {
        long start = System.nanoTime();
        for (int i = 0; i < STALLED; i++) {
          RawHttp c = RawHttp.open(server, TIMEOUT.multipliedBy(3));
          stalled.add(c);
          c.send(
              i % 2 == 0
                  ? "POST /v1/models/fashion:predict HTTP/1.1\r\nHost: a\r\n"
                  : "POST /v1/models/fashion:predict HTTP/1.1\r\nHost: a\r\nContent-Length:"
                      + " 100000\r\n\r\n{\"instances\": [");
        }
        long deadline = System.nanoTime() + TIMEOUT.toNanos() / 2;
        while (server.openConnections() <= STALLED && System.nanoTime() < deadline) {
          Thread.sleep(5);
        }
        assertThat(server.openConnections()).isGreaterThan(STALLED);
        Thread.sleep(SETTLE.toMillis());
        flooded = medianLatency(client, status);
        assertThat(Duration.ofNanos(System.nanoTime() - start))
            .as("the measure ends before the stalled connections time out")
            .isLessThan(TIMEOUT);
        double normalAfter = medianLatency(client, status);
        assertThat(flooded)
            .as(
                "median ms with %d stalled connections vs %.2f / %.2f ms without",
                STALLED, normal, normalAfter)
            .isLessThanOrEqualTo(2 * Math.max(normal, normalAfter));
        for (RawHttp c : stalled) {
          RawHttp.Response r = c.read();
          assertThat(r.status()).isEqualTo(408);
          assertThat(r.error()).contains("did not arrive within 5 s");
        }
      } finally {
        for (RawHttp c : stalled) {
          c.close();
        }
      }
      long closing = System.nanoTime() + TIMEOUT.toNanos();
      while (server.openConnections() > 1 && System.nanoTime() < closing) {
        Thread.sleep(10);
      }
      assertThat(server.openConnections()).isLessThanOrEqualTo(1);
      assertThat(server.bodyBytesInFlight()).isZero();
    }
  }
}
