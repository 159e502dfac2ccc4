package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/** Clients that hang up while their prediction waits or runs do not hold the server's slots. */
class RestServerDisconnectTest {
  static final int MAX_BATCH = 16;
  static final String FAST = "{\"instances\": [" + RestServerTest.ROW + "]}";

  @TempDir static Path dir;
  static RestServer server;

  /** A prediction of several seconds on the tiny model: 16 rows, 100 steps. */
  static String slow() {
    StringBuilder seeds = new StringBuilder();
    StringBuilder labels = new StringBuilder();
    StringBuilder guidance = new StringBuilder();
    for (int i = 0; i < MAX_BATCH; i++) {
      String sep = i == 0 ? "" : ", ";
      seeds.append(sep).append(i + 1);
      labels.append(sep).append(i % 10);
      guidance.append(sep).append("1.0");
    }
    return "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": ["
        + seeds
        + "], \"class_label\": ["
        + labels
        + "], \"guidance_scale\": ["
        + guidance
        + "], \"num_steps\": 100}}";
  }

  @BeforeAll
  static void start() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withMaxBatch(MAX_BATCH)
                .withMaxConcurrent(1)
                .withQueueTimeout(Duration.ofSeconds(60))
                .withPoll(Duration.ZERO),
            ServerLog.quiet());
    try (RawHttp c = RawHttp.open(server, Duration.ofSeconds(60))) {
      assertThat(
              c.send(RawHttp.request("POST", "/v1/models/fashion:predict", FAST)).read().status())
          .isEqualTo(200); // loads the model
    }
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  /** Abandoned runs of an earlier test end before the next starts. */
  @BeforeEach
  void awaitIdle() throws InterruptedException {
    awaitRunning(0);
  }

  static void awaitRunning(int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (server.running() != n && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(server.running()).isEqualTo(n);
  }

  @Test
  void aClientThatHangsUpDuringItsPredictionFreesTheSlot() throws Exception {
    try (RawHttp gone = RawHttp.open(server, Duration.ofSeconds(60))) {
      gone.send(RawHttp.request("POST", "/v1/models/fashion:predict", slow()));
      awaitRunning(1);
    } // hangs up
    long start = System.nanoTime();
    try (RawHttp next = RawHttp.open(server, Duration.ofSeconds(60))) {
      RawHttp.Response r =
          next.send(RawHttp.request("POST", "/v1/models/fashion:predict", FAST)).read();
      assertThat(r.status()).as(r.text()).isEqualTo(200);
    }
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
  }

  @Test
  void aClientThatHangsUpWhileQueuedLeavesTheQueueAndNeverRuns() throws Exception {
    long abandoned = server.abandonedInQueue();
    try (RawHttp running = RawHttp.open(server, Duration.ofSeconds(120))) {
      running.send(RawHttp.request("POST", "/v1/models/fashion:predict", slow()));
      awaitRunning(1);
      try (RawHttp gone = RawHttp.open(server, Duration.ofSeconds(60))) {
        gone.send(RawHttp.request("POST", "/v1/models/fashion:predict", slow()));
        awaitQueued(1);
      } // hangs up while queued
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (server.abandonedInQueue() == abandoned && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(server.abandonedInQueue()).isEqualTo(abandoned + 1);
      assertThat(server.queued()).isZero();
      try (RawHttp next = RawHttp.open(server, Duration.ofSeconds(120))) {
        next.send(RawHttp.request("POST", "/v1/models/fashion:predict", FAST));
        awaitQueued(1);
        assertThat(running.read().status()).isEqualTo(200);
        long answered = System.nanoTime();
        assertThat(next.read().status()).isEqualTo(200);
        // the abandoned prediction did not run in between (it takes seconds)
        assertThat(Duration.ofNanos(System.nanoTime() - answered))
            .isLessThan(Duration.ofMillis(1500));
      }
    }
    assertThat(server.running()).isZero();
  }

  static void awaitQueued(int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (server.queued() != n && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(server.queued()).isEqualTo(n);
  }
}
