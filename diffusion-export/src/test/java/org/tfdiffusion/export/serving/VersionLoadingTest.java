package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.export.TinyRun;

/**
 * Versions that arrive the way {@code cp -r} and rsync write them: {@code saved_model.pb} first,
 * {@code variables/} later. A version serves only once it has loaded completely; meanwhile the one
 * before keeps serving.
 */
class VersionLoadingTest {
  static final String PREDICT = "/v1/models/fashion:predict";
  static final String ROW = "{\"instances\": [" + RestServerTest.ROW + "]}";

  @TempDir static Path dir;
  static ModelExporter.Exported export;

  @BeforeAll
  static void exportOnce() {
    export = TinyRun.export(dir.resolve("source"), "fashion", () -> {});
  }

  static RawHttp.Response call(RestServer s, String method, String path, String body)
      throws Exception {
    try (RawHttp c = RawHttp.open(s, Duration.ofSeconds(60))) {
      return c.send(RawHttp.request(method, path, body)).read();
    }
  }

  /** Copies the export's files except {@code variables/}, as a copy in progress leaves them. */
  static void copyAllButVariables(Path to) throws Exception {
    Path from = export.directory();
    try (Stream<Path> walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Path rel = from.relativize(p);
        if (rel.startsWith("variables")) {
          continue;
        }
        Path target = to.resolve(rel.toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }

  @Test
  void aVersionCopiedWithoutItsVariablesYetIsNotServedAndThePreviousOneKeepsServing()
      throws Exception {
    Path base = dir.resolve("copy");
    RestServerTest.copy(export.directory(), base.resolve("fashion/1"));
    try (RestServer s =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withPoll(Duration.ofMillis(100))
                .withLoadRetries(new ModelRegistry.LoadRetries(50, Duration.ofMillis(100))),
            ServerLog.quiet())) {
      assertThat(call(s, "POST", PREDICT, ROW).status()).isEqualTo(200);
      copyAllButVariables(base.resolve("fashion/2"));
      for (int i = 0; i < 5; i++) {
        RawHttp.Response r = call(s, "POST", PREDICT, ROW);
        assertThat(r.status()).as(r.text()).isEqualTo(200);
        Thread.sleep(100);
      }
      RestServerTest.copy(
          export.directory().resolve("variables"), base.resolve("fashion/2/variables"));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      String version = "";
      while (!version.equals("2") && System.nanoTime() < deadline) {
        RawHttp.Response meta = call(s, "GET", "/v1/models/fashion/metadata", null);
        version = meta.json().path("model_spec").path("version").asText();
        Thread.sleep(50);
      }
      assertThat(version).isEqualTo("2");
      RawHttp.Response r = call(s, "POST", PREDICT, ROW);
      assertThat(r.status()).as(r.text()).isEqualTo(200);
    }
  }

  static RestServer start(Path base, int maxRetries) {
    return RestServer.start(
        base,
        RestServer.Options.defaults()
            .withPort(0)
            .withPoll(Duration.ofMillis(100))
            .withLoadRetries(new ModelRegistry.LoadRetries(maxRetries, Duration.ofMillis(100))),
        ServerLog.quiet());
  }

  /** The status of one version, polled until {@code until} holds (or 30 s). */
  static JsonNode versionStatus(RestServer s, long version, Predicate<JsonNode> until)
      throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    JsonNode status;
    do {
      RawHttp.Response r = call(s, "GET", "/v1/models/fashion/versions/" + version, null);
      assertThat(r.status()).as(r.text()).isEqualTo(200);
      status = r.json().path("model_version_status").get(0);
      if (until.test(status)) {
        return status;
      }
      Thread.sleep(20);
    } while (System.nanoTime() < deadline);
    return status;
  }

  static String defaultVersion(RestServer s) throws Exception {
    RawHttp.Response meta = call(s, "GET", "/v1/models/fashion/metadata", null);
    assertThat(meta.status()).as(meta.text()).isEqualTo(200);
    return meta.json().path("model_spec").path("version").asText();
  }

  @Test
  void aVersionThatNeverCompletesEndsWithItsErrorAndIsTriedAgainWhenItsFilesChange()
      throws Exception {
    Path base = dir.resolve("never");
    RestServerTest.copy(export.directory(), base.resolve("fashion/1"));
    copyAllButVariables(base.resolve("fashion/2"));
    try (RestServer s = start(base, 2)) {
      // nothing loaded yet: the first request tries version 2, then falls back to version 1
      RawHttp.Response first = call(s, "POST", PREDICT, ROW);
      assertThat(first.status()).as(first.text()).isEqualTo(200);
      assertThat(defaultVersion(s)).isEqualTo("1");

      JsonNode retrying = versionStatus(s, 2, st -> true);
      assertThat(retrying.path("state").asText()).isIn("LOADING", "END");
      assertThat(retrying.path("status").path("error_code").asText()).isEqualTo("NOT_FOUND");

      JsonNode ended = versionStatus(s, 2, st -> st.path("state").asText().equals("END"));
      assertThat(ended.path("state").asText()).isEqualTo("END");
      assertThat(ended.path("status").path("error_code").asText()).isEqualTo("NOT_FOUND");
      assertThat(ended.path("status").path("error_message").asText())
          .contains("variables/variables.index is missing", "still being copied");

      RawHttp.Response pinned = call(s, "POST", "/v1/models/fashion/versions/2:predict", ROW);
      assertThat(pinned.status()).isEqualTo(503);
      assertThat(pinned.error())
          .contains("version 2 of model fashion failed to load", "after 3 attempts")
          .contains("variables/variables.index is missing");

      RawHttp.Response all = call(s, "GET", "/v1/models/fashion", null);
      assertThat(all.json().path("model_version_status").get(0).path("state").asText())
          .isEqualTo("END");
      assertThat(all.json().path("model_version_status").get(1).path("state").asText())
          .isEqualTo("AVAILABLE");
      RawHttp.Response listing = call(s, "GET", "/v1/models", null);
      JsonNode versions = listing.json().path("models").get(0).path("versions");
      assertThat(versions.get(0).path("state").asText()).isEqualTo("END");
      assertThat(versions.get(0).path("error").asText()).contains("variables.index");
      assertThat(listing.json().path("models").get(0).path("default_version").asLong())
          .isEqualTo(1);
      assertThat(call(s, "POST", PREDICT, ROW).status()).isEqualTo(200);

      // the copy finishes: the version's files changed, so it is loaded again
      RestServerTest.copy(
          export.directory().resolve("variables"), base.resolve("fashion/2/variables"));
      JsonNode available = versionStatus(s, 2, st -> st.path("state").asText().equals("AVAILABLE"));
      assertThat(available.path("status").path("error_code").asText()).isEqualTo("OK");
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!defaultVersion(s).equals("2") && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(defaultVersion(s)).isEqualTo("2");
    }
  }

  @Test
  void aTruncatedVariablesFileIsDataLossAndNeverServed() throws Exception {
    Path base = dir.resolve("truncated");
    RestServerTest.copy(export.directory(), base.resolve("fashion/1"));
    Path v2 = base.resolve("fashion/2");
    copyAllButVariables(v2);
    Files.createDirectories(v2.resolve("variables"));
    Path source = export.directory().resolve("variables");
    try (Stream<Path> files = Files.list(source)) {
      for (Path f : files.toList()) {
        byte[] bytes = Files.readAllBytes(f);
        boolean data = f.getFileName().toString().startsWith("variables.data");
        Files.write(
            v2.resolve("variables").resolve(f.getFileName().toString()),
            data ? Arrays.copyOf(bytes, bytes.length / 2) : bytes);
      }
    }
    try (RestServer s = start(base, 0)) {
      RawHttp.Response pinned = call(s, "POST", "/v1/models/fashion/versions/2:predict", ROW);
      assertThat(pinned.status()).isEqualTo(503);
      assertThat(pinned.error()).contains("truncated");
      JsonNode status = versionStatus(s, 2, st -> true);
      assertThat(status.path("state").asText()).isEqualTo("END");
      assertThat(status.path("status").path("error_code").asText()).isEqualTo("DATA_LOSS");
      RawHttp.Response r = call(s, "POST", PREDICT, ROW);
      assertThat(r.status()).as(r.text()).isEqualTo(200);
      assertThat(defaultVersion(s)).isEqualTo("1");
    }
  }
}
