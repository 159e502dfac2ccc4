package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP layer under stalled, slow, oversized and malformed requests, on servers with no models
 * (nothing here needs TensorFlow): one with the default limits, one with tight ones.
 */
class RestServerLimitsTest {
  static final Duration READ = Duration.ofSeconds(5);
  static final Duration HEADER_TIMEOUT = Duration.ofMillis(400);
  static final Duration BODY_TIMEOUT = Duration.ofMillis(600);
  static final Duration IDLE_TIMEOUT = Duration.ofMillis(800);
  static final int MAX_CONNECTIONS = 4;
  static final int MAX_HEADER_BYTES = 2048;
  static final long MAX_BODY = 64 << 10;
  static final long IN_FLIGHT = 2 * MAX_BODY;

  @TempDir static Path dir;
  static RestServer server;
  static RestServer tight;

  @BeforeAll
  static void start() throws Exception {
    Files.createDirectories(dir.resolve("models"));
    server =
        RestServer.start(
            dir.resolve("models"),
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO),
            ServerLog.quiet());
    tight =
        RestServer.start(
            dir.resolve("models"),
            RestServer.Options.defaults()
                .withPort(0)
                .withPoll(Duration.ZERO)
                .withLimits(
                    HttpLimits.defaults()
                        .withTimeouts(HEADER_TIMEOUT, BODY_TIMEOUT, IDLE_TIMEOUT)
                        .withMaxHeaderBytes(MAX_HEADER_BYTES)
                        .withMaxBodyBytes(MAX_BODY, IN_FLIGHT)),
            ServerLog.quiet());
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
    if (tight != null) {
      tight.close();
    }
  }

  /** Waits until a server has no connection open (the tests' own closes are seen late). */
  static void awaitNoConnections(RestServer s) throws InterruptedException {
    long deadline = System.nanoTime() + READ.toNanos();
    while (s.openConnections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(s.openConnections()).isZero();
  }

  static String body(int bytes) {
    return "{\"inputs\": \"" + "x".repeat(Math.max(0, bytes - 14)) + "\"}";
  }

  static RawHttp.Response get(String path) throws Exception {
    try (RawHttp c = RawHttp.open(server, READ)) {
      return c.send(RawHttp.request("GET", path, null)).read();
    }
  }

  @Test
  void connectionsThatNeverFinishTheirRequestDoNotStopOthers() throws Exception {
    List<RawHttp> stalled = new ArrayList<>();
    try {
      for (int i = 0; i < 20; i++) {
        RawHttp c = RawHttp.open(server, READ);
        stalled.add(c);
        if (i % 2 == 0) {
          c.send("POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{");
        } else {
          c.send("GET /v1/models HTTP/1.1\r\nHost: a\r\n");
        }
      }
      long start = System.nanoTime();
      RawHttp.Response r = get("/v1/models");
      assertThat(r.status()).isEqualTo(200);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
    } finally {
      for (RawHttp c : stalled) {
        c.close();
      }
    }
  }

  @Test
  void aBodyOverTheLimitIsRefusedFromItsContentLengthBeforeItIsSent() throws Exception {
    try (RawHttp c = RawHttp.open(server, READ)) {
      RawHttp.Response r =
          c.send(
                  "POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                      + "Content-Length: 1073741824\r\n\r\n")
              .read();
      assertThat(r.status()).isEqualTo(413);
      assertThat(r.header("Content-Type")).isEqualTo("application/json");
      assertThat(r.error()).contains("1073741824").contains("limit").contains("--max-body-bytes");
    }
  }

  @Test
  void oversizedHeadersGet431InTfServingsErrorShape() throws Exception {
    try (RawHttp c = RawHttp.open(server, READ)) {
      RawHttp.Response r =
          c.send("GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Big: " + "a".repeat(100_000) + "\r\n\r\n")
              .read();
      assertThat(r.status()).isEqualTo(431);
      assertThat(r.header("Content-Type")).isEqualTo("application/json");
      assertThat(r.json().fieldNames()).toIterable().containsExactly("error");
      assertThat(r.error()).contains("header");
    }
  }

  @Test
  void malformedRequestsGetJsonErrorsNotHtmlPages() throws Exception {
    for (String bad :
        List.of(
            "GET /v1/models HTTP/1.1\r\nHost: a\r\nThis line has no colon\r\n\r\n",
            "GET /v1/models HTTP/1.1\r\nHost: a\r\nContent-Length: banana\r\n\r\n",
            "NOT-HTTP\r\n\r\n")) {
      try (RawHttp c = RawHttp.open(server, READ)) {
        RawHttp.Response r = c.send(bad).read();
        assertThat(r.status()).as(bad).isEqualTo(400);
        assertThat(r.header("Content-Type")).as(bad).isEqualTo("application/json");
        assertThat(r.json().fieldNames()).toIterable().containsExactly("error");
        assertThat(r.text()).doesNotContain("<h1>", "<html");
      }
    }
    assertThat(get("/v1/models").status()).isEqualTo(200);
  }

  @Test
  void headersThatDoNotArriveInTimeGet408AndTheConnectionCloses() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      long start = System.nanoTime();
      RawHttp.Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Slow: 1").read();
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertThat(r.status()).isEqualTo(408);
      assertThat(r.header("Content-Type")).isEqualTo("application/json");
      assertThat(r.header("Connection")).isEqualTo("close");
      assertThat(r.error()).contains("headers", "0.4 s", "--header-timeout");
      assertThat(took).isBetween(HEADER_TIMEOUT.minusMillis(50), HEADER_TIMEOUT.multipliedBy(5));
      assertThat(c.closedWithin(READ)).isTrue();
    }
  }

  @Test
  void aHeaderTrickledByteByByteStillTimesOut() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      long start = System.nanoTime();
      c.send("GET /v1/models HTTP/1.1\r\n");
      for (int i = 0; i < 40 && !c.hasInput(); i++) {
        c.send("X");
        Thread.sleep(50);
      }
      assertThat(Duration.ofNanos(System.nanoTime() - start))
          .isLessThan(HEADER_TIMEOUT.multipliedBy(5));
      assertThat(c.read().status()).isEqualTo(408);
      assertThat(c.closedWithin(READ)).isTrue();
    }
  }

  @Test
  void aBodyThatDoesNotArriveInTimeGets408() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      RawHttp.Response r =
          c.send("POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{")
              .read();
      assertThat(r.status()).isEqualTo(408);
      assertThat(r.error()).contains("body", "0.6 s", "--body-timeout");
      assertThat(c.closedWithin(READ)).isTrue();
    }
    assertThat(tight.bodyBytesInFlight()).isZero();
  }

  @Test
  void anIdleConnectionIsClosedWithoutAnAnswer() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      assertThat(c.closedWithin(IDLE_TIMEOUT.multipliedBy(5))).isTrue();
    }
    try (RawHttp c = RawHttp.open(tight, READ)) {
      assertThat(c.send(RawHttp.request("GET", "/v1/models", null)).read().status()).isEqualTo(200);
      // kept alive after an answer, until the idle timeout
      assertThat(c.closedWithin(IDLE_TIMEOUT.dividedBy(2))).isFalse();
      assertThat(c.send(RawHttp.request("GET", "/v1/runs", null)).read().status()).isEqualTo(200);
      assertThat(c.closedWithin(IDLE_TIMEOUT.multipliedBy(5))).isTrue();
    }
  }

  @Test
  void pipelinedRequestsAreAnsweredInOrder() throws Exception {
    try (RawHttp c = RawHttp.open(server, READ)) {
      c.send(
          RawHttp.request("GET", "/v1/models", null)
              + RawHttp.request("GET", "/v1/models/nope", null)
              + RawHttp.request("POST", "/v1/models", "{}"));
      assertThat(c.read().status()).isEqualTo(200);
      assertThat(c.read().status()).isEqualTo(404);
      RawHttp.Response third = c.read();
      assertThat(third.status()).isEqualTo(405);
      assertThat(third.header("Allow")).isEqualTo("GET");
    }
  }

  @Test
  void expect100ContinueGetsTheGoAheadOrA413() throws Exception {
    String json = "{\"instances\": [1]}";
    try (RawHttp c = RawHttp.open(server, READ)) {
      c.send(
          "POST /v1/models/nope:predict HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
              + "Content-Length: "
              + json.length()
              + "\r\n\r\n");
      assertThat(c.read().status()).isEqualTo(100);
      RawHttp.Response r = c.send(json).read();
      assertThat(r.status()).isEqualTo(404);
      assertThat(r.error()).contains("nope");
    }
    try (RawHttp c = RawHttp.open(tight, READ)) {
      RawHttp.Response r =
          c.send(
                  "POST /v1/models/nope:predict HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                      + "Content-Length: "
                      + (MAX_BODY + 1)
                      + "\r\n\r\n")
              .read();
      assertThat(r.status()).isEqualTo(413);
    }
  }

  @Test
  void aChunkedBodyOverTheLimitIsRefusedWhileItStreams() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      c.send("POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
      String chunk = "x".repeat(16 << 10);
      RawHttp.Response r = null;
      for (int i = 0; i < 8 && r == null; i++) {
        try {
          c.send(Integer.toHexString(chunk.length()) + "\r\n" + chunk + "\r\n");
        } catch (java.io.IOException e) {
          break; // the server answered and stopped reading
        }
      }
      r = c.read();
      assertThat(r.status()).isEqualTo(413);
      assertThat(r.error()).contains(String.valueOf(MAX_BODY), "--max-body-bytes");
    }
    try (RawHttp c = RawHttp.open(tight, READ)) {
      // a chunked body within the limit is read whole
      String json = "{\"instances\": [1]}";
      RawHttp.Response r =
          c.send(
                  "POST /v1/models/nope:predict HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + Integer.toHexString(5)
                      + "\r\n"
                      + json.substring(0, 5)
                      + "\r\n"
                      + Integer.toHexString(json.length() - 5)
                      + "\r\n"
                      + json.substring(5)
                      + "\r\n0\r\n\r\n")
              .read();
      assertThat(r.status()).isEqualTo(404);
    }
    assertThat(tight.bodyBytesInFlight()).isZero();
  }

  @Test
  void bodiesInFlightAreBoundedAndTheirMemoryIsGivenBack() throws Exception {
    awaitNoConnections(tight);
    long each = MAX_BODY * 3 / 4; // two fit under the per-request limit, not under the total
    List<RawHttp> uploading = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        RawHttp c = RawHttp.open(tight, READ);
        uploading.add(c);
        c.send(
            "POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Length: "
                + each
                + "\r\n\r\n{");
      }
      long deadline = System.nanoTime() + READ.toNanos();
      while (tight.bodyBytesInFlight() < 2 * each && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(tight.bodyBytesInFlight()).isEqualTo(2 * each);
      try (RawHttp third = RawHttp.open(tight, READ)) {
        RawHttp.Response r =
            third
                .send(
                    "POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Length: "
                        + each
                        + "\r\n\r\n")
                .read();
        assertThat(r.status()).isEqualTo(429);
        assertThat(r.error()).contains("--max-body-bytes-in-flight", "retry");
      }
      assertThat(tight.bodyBytesInFlight()).isLessThanOrEqualTo(IN_FLIGHT);
    } finally {
      for (RawHttp c : uploading) {
        c.close();
      }
    }
    long deadline = System.nanoTime() + READ.toNanos();
    while (tight.bodyBytesInFlight() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(tight.bodyBytesInFlight()).isZero();
  }

  @Test
  void sixteenHugeBodiesAtOnceAreRefusedWithoutBeingRead() throws Exception {
    List<RawHttp> clients = new ArrayList<>();
    try {
      for (int i = 0; i < 16; i++) {
        RawHttp c = RawHttp.open(server, READ);
        clients.add(c);
        c.send(
            "POST /v1/models/x:predict HTTP/1.1\r\nHost: a\r\nContent-Length: "
                + (50L << 20)
                + "\r\n\r\n"
                + "[".repeat(1 << 16));
      }
      for (RawHttp c : clients) {
        assertThat(c.read().status()).isEqualTo(413);
      }
      assertThat(server.bodyBytesInFlight()).isZero();
    } finally {
      for (RawHttp c : clients) {
        c.close();
      }
    }
  }

  @Test
  void aConnectionOverTheLimitGets503AndTheOthersKeepWorking() throws Exception {
    try (RestServer limited =
        RestServer.start(
            dir.resolve("models"),
            RestServer.Options.defaults()
                .withPort(0)
                .withPoll(Duration.ZERO)
                .withLimits(HttpLimits.defaults().withMaxConnections(MAX_CONNECTIONS)),
            ServerLog.quiet())) {
      List<RawHttp> open = new ArrayList<>();
      try {
        for (int i = 0; i < MAX_CONNECTIONS; i++) {
          RawHttp c = RawHttp.open(limited, READ);
          open.add(c);
          // an answer: the server has accepted and counted this connection
          assertThat(c.send(RawHttp.request("GET", "/v1/runs", null)).read().status())
              .isEqualTo(200);
        }
        try (RawHttp extra = RawHttp.open(limited, READ)) {
          RawHttp.Response r = extra.read();
          assertThat(r.status()).isEqualTo(503);
          assertThat(r.header("Content-Type")).isEqualTo("application/json");
          assertThat(r.error()).contains("--max-connections");
        }
        RawHttp first = open.get(0);
        assertThat(first.send(RawHttp.request("GET", "/v1/models", null)).read().status())
            .isEqualTo(200);
      } finally {
        for (RawHttp c : open) {
          c.close();
        }
      }
      awaitNoConnections(limited);
      assertThat(get(limited, "/v1/models").status()).isEqualTo(200);
    }
  }

  @Test
  void aRequestLineOverTheLimitGets414() throws Exception {
    try (RawHttp c = RawHttp.open(tight, READ)) {
      RawHttp.Response r =
          c.send("GET /v1/models/" + "a".repeat(2 * MAX_HEADER_BYTES) + " HTTP/1.1\r\n\r\n").read();
      assertThat(r.status()).isEqualTo(414);
      assertThat(r.error()).contains(String.valueOf(MAX_HEADER_BYTES), "--max-header-bytes");
    }
  }

  static RawHttp.Response get(RestServer s, String path) throws Exception {
    try (RawHttp c = RawHttp.open(s, READ)) {
      return c.send(RawHttp.request("GET", path, null)).read();
    }
  }
}
