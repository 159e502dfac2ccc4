package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Symbolic links under {@code serve --runs}: the run list and the file endpoints follow one rule,
 * so neither shows a file whose real path lies outside the runs folder.
 */
class RunLinksTest {
  static final String SECRET = "secret-outside-the-runs";

  @TempDir Path dir;

  @Test
  void theRunListShowsNothingALinkBringsInFromOutside() throws Exception {
    Path runs = dir.resolve("runs");
    Path outside = dir.resolve("outside");
    Files.createDirectories(outside.resolve("run"));
    Files.writeString(outside.resolve("secret.json"), "{\"secret\": \"" + SECRET + "\"}");
    Files.writeString(outside.resolve("secret.csv"), "step,epoch,loss\n7," + SECRET + ",0.5\n");
    Files.writeString(outside.resolve("run/config.json"), "{\"secret\": \"" + SECRET + "\"}");
    Files.writeString(outside.resolve("run/metrics.csv"), "step,epoch,loss\n1,0,0.5\n");

    Path ok = runs.resolve("ok");
    Files.createDirectories(ok);
    Files.writeString(ok.resolve("config.json"), "{\"preset\": \"demo\"}");
    Files.writeString(ok.resolve("metrics.csv"), "step,epoch,loss\n10,0,0.25\n");
    Path linkedConfig = runs.resolve("linked-config");
    Files.createDirectories(linkedConfig);
    Files.writeString(linkedConfig.resolve("metrics.csv"), "step,epoch,loss\n20,0,0.5\n");
    Path linkedMetrics = runs.resolve("linked-metrics");
    Files.createDirectories(linkedMetrics);
    Files.writeString(linkedMetrics.resolve("config.json"), "{\"preset\": \"demo\"}");
    try {
      Files.createSymbolicLink(linkedConfig.resolve("config.json"), outside.resolve("secret.json"));
      Files.createSymbolicLink(linkedMetrics.resolve("metrics.csv"), outside.resolve("secret.csv"));
      Files.createSymbolicLink(runs.resolve("linked-run"), outside.resolve("run"));
    } catch (UnsupportedOperationException | IOException e) {
      assumeTrue(false, "no symbolic links on this file system");
    }
    Path models = Files.createDirectories(dir.resolve("models"));
    try (RestServer server =
        RestServer.start(
            models,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO).withRuns(runs),
            ServerLog.quiet())) {
      RawHttp.Response list;
      try (RawHttp c = RawHttp.open(server, Duration.ofSeconds(5))) {
        list = c.send(RawHttp.request("GET", "/v1/runs", null)).read();
      }
      assertThat(list.status()).isEqualTo(200);
      assertThat(list.text()).doesNotContain(SECRET);
      List<String> names = new ArrayList<>();
      for (JsonNode run : list.json().path("runs")) {
        names.add(run.path("name").asText());
      }
      assertThat(names).containsExactlyInAnyOrder("ok", "linked-config", "linked-metrics");
      for (JsonNode run : list.json().path("runs")) {
        switch (run.path("name").asText()) {
          case "ok" -> assertThat(run.path("config").path("preset").asText()).isEqualTo("demo");
          case "linked-config" -> assertThat(run.path("config").isNull()).isTrue();
          default -> assertThat(run.path("rows").asInt()).isZero();
        }
      }
      for (String path :
          List.of(
              "/v1/runs/linked-config/config.json",
              "/v1/runs/linked-metrics/metrics.csv",
              "/v1/runs/linked-run/config.json")) {
        try (RawHttp c = RawHttp.open(server, Duration.ofSeconds(5))) {
          RawHttp.Response r = c.send(RawHttp.request("GET", path, null)).read();
          assertThat(r.status()).as(path).isEqualTo(404);
          assertThat(r.text()).doesNotContain(SECRET);
        }
      }
    }
  }
}
