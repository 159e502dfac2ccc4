package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/** The access log: one JSON line per request, with what the request turned out to be. */
class AccessLogTest {
  @TempDir Path dir;

  @Test
  void writesOneJsonLinePerRequest() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    Path file = dir.resolve("access.log");
    try (AccessLog log = AccessLog.toFile(file);
        RestServer server =
            RestServer.start(
                base,
                RestServer.Options.defaults().withPort(0).withAccessLog(log),
                ServerLog.quiet())) {
      assertThat(
              MonitoringTest.send(
                      server,
                      "POST",
                      "/v1/models/fashion/versions/1:predict",
                      MonitoringTest.predictRows(5, 6))
                  .statusCode())
          .isEqualTo(200);
      assertThat(
              MonitoringTest.send(
                      server,
                      "POST",
                      "/v1/models/fashion:predict",
                      "{\"signature_name\": \"nope\", \"instances\": [{\"seed\": 1}]}")
                  .statusCode())
          .isEqualTo(404);
      assertThat(MonitoringTest.send(server, "GET", "/v1/models/fashion", null).statusCode())
          .isEqualTo(200);
      assertThat(MonitoringTest.send(server, "GET", "/healthz", null).statusCode()).isEqualTo(200);
    }
    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(4);
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> entries = new ArrayList<>();
    for (String line : lines) {
      entries.add(json.readTree(line));
    }

    JsonNode ok = entries.get(0);
    assertThat(ok.path("protocol").asText()).isEqualTo("rest");
    assertThat(ok.path("method").asText()).isEqualTo("POST");
    assertThat(ok.path("path").asText()).isEqualTo("/v1/models/fashion/versions/1:predict");
    assertThat(ok.path("api").asText()).isEqualTo("predict");
    assertThat(ok.path("model").asText()).isEqualTo("fashion");
    assertThat(ok.path("version").asLong()).isEqualTo(1);
    assertThat(ok.path("signature").asText()).isEqualTo("serving_default");
    assertThat(ok.path("batch").asInt()).isEqualTo(2);
    assertThat(ok.path("run_batch").asInt()).isEqualTo(2);
    assertThat(ok.path("latency_ms").asDouble()).isPositive();
    assertThat(ok.path("status").asInt()).isEqualTo(200);
    assertThat(ok.path("code").asText()).isEqualTo("OK");
    assertThat(ok.has("error")).isFalse();
    assertThat(ok.path("time").asText()).matches("\\d{4}-\\d\\d-\\d\\dT.*Z");

    JsonNode missing = entries.get(1);
    assertThat(missing.path("status").asInt()).isEqualTo(404);
    assertThat(missing.path("code").asText()).isEqualTo("NOT_FOUND");
    assertThat(missing.path("model").asText()).isEqualTo("fashion");
    assertThat(missing.path("signature").isNull()).isTrue();
    assertThat(missing.path("batch").isNull()).isTrue();
    assertThat(missing.path("error").asText())
        .startsWith("Serving signature name: \"nope\" not found");

    JsonNode status = entries.get(2);
    assertThat(status.path("api").asText()).isEqualTo("status");
    assertThat(status.path("model").asText()).isEqualTo("fashion");

    JsonNode probe = entries.get(3);
    assertThat(probe.path("path").asText()).isEqualTo("/healthz");
    assertThat(probe.path("api").isNull()).isTrue();
    assertThat(probe.path("model").isNull()).isTrue();
  }
}
