package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The web page's files and the read-only extensions ({@code GET /v1/models}, {@code /v1/runs...})
 * through a real HTTP client, including attempts to read files outside the runs.
 */
class WebEndpointsTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static RestServer server;
  static HttpClient client;

  @BeforeAll
  static void start() {
    server =
        RestServer.start(
            WebFixture.base(),
            RestServer.Options.defaults()
                .withPort(0)
                .withMaxBatch(8)
                .withPoll(Duration.ZERO)
                .withRuns(WebFixture.runs()),
            ServerLog.quiet());
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  static HttpResponse<byte[]> send(RestServer s, String method, String path) throws Exception {
    return client.send(
        HttpRequest.newBuilder(URI.create(s.url() + path))
            .method(method, HttpRequest.BodyPublishers.noBody())
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  static HttpResponse<byte[]> get(String path) throws Exception {
    return send(server, "GET", path);
  }

  static JsonNode json(HttpResponse<byte[]> r) throws Exception {
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    return JSON.readTree(r.body());
  }

  @Test
  void theModelListHasVersionsSamplerClassesAndShapeWithoutLoadingAnything() throws Exception {
    HttpResponse<byte[]> r = get("/v1/models");
    assertThat(r.statusCode()).isEqualTo(200);
    JsonNode listing = json(r);
    assertThat(listing.path("max_batch").asInt()).isEqualTo(8);
    JsonNode models = listing.path("models");
    assertThat(models).hasSize(1);
    JsonNode fashion = models.get(0);
    assertThat(fashion.path("name").asText()).isEqualTo("fashion");
    assertThat(fashion.path("default_version").asLong()).isEqualTo(1);
    JsonNode v1 = fashion.path("versions").get(0);
    assertThat(v1.path("version").asLong()).isEqualTo(1);
    assertThat(v1.path("state").asText()).isEqualTo("AVAILABLE");
    assertThat(v1.path("tfdiffusion").asBoolean()).isTrue();
    assertThat(v1.path("sampler").asText()).startsWith("dpm-solver++(steps=4");
    assertThat(v1.path("sampler_kind").asText()).isEqualTo("dpmpp");
    assertThat(v1.path("steps").asInt()).isEqualTo(4);
    assertThat(v1.path("max_steps").asInt()).isEqualTo(100);
    assertThat(v1.path("conditional").asBoolean()).isTrue();
    assertThat(v1.path("num_classes").asInt()).isEqualTo(10);
    assertThat(v1.path("class_names")).hasSize(10);
    assertThat(v1.path("class_names").get(1).asText()).isEqualTo("Trouser");
    assertThat(v1.path("image_shape").toString()).isEqualTo("[28,28,1]");
    assertThat(v1.path("training_step").asLong()).isEqualTo(2);
    assertThat(v1.path("default_guidance").isNumber()).isTrue();
    assertThat(get("/v1/models/").statusCode()).isEqualTo(200);
    assertThat(send(server, "POST", "/v1/models").statusCode()).isEqualTo(405);
  }

  @Test
  void thePageAndItsFilesAreServedWithTheirTypes() throws Exception {
    HttpResponse<byte[]> page = get("/");
    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
    assertThat(page.headers().firstValue("Content-Security-Policy").orElseThrow())
        .contains("default-src 'self'");
    String html = new String(page.body(), StandardCharsets.UTF_8);
    assertThat(html).contains("<title>tfdiffusion</title>", "/web/app.js", "/web/style.css");
    assertThat(html).doesNotContain("http://", "https://"); // no CDN, no external network
    assertThat(get("/index.html").body()).isEqualTo(page.body());
    HttpResponse<byte[]> js = get("/web/app.js");
    assertThat(js.statusCode()).isEqualTo(200);
    assertThat(js.headers().firstValue("Content-Type").orElseThrow()).startsWith("text/javascript");
    assertThat(new String(js.body(), StandardCharsets.UTF_8))
        .contains("/v1/models", ":predict")
        .doesNotContain("https://");
    assertThat(get("/web/style.css").headers().firstValue("Content-Type").orElseThrow())
        .startsWith("text/css");
    assertThat(get("/web/favicon.svg").statusCode()).isEqualTo(200);
    assertThat(send(server, "POST", "/").statusCode()).isEqualTo(405);
    HttpResponse<byte[]> missing = get("/web/other.js");
    assertThat(missing.statusCode()).isEqualTo(404);
    assertThat(json(missing).path("error").asText()).contains("GET /v1/models", "/v1/runs");
  }

  @Test
  void theRunListHasTheRunsNewestFirstWithTheirSamplesNewestFirst() throws Exception {
    HttpResponse<byte[]> r = get("/v1/runs");
    assertThat(r.statusCode()).isEqualTo(200);
    JsonNode listing = json(r);
    assertThat(Path.of(listing.path("runs_dir").asText()))
        .isEqualTo(WebFixture.runs().toAbsolutePath().normalize());
    List<String> names = new ArrayList<>();
    listing.path("runs").forEach(run -> names.add(run.path("name").asText()));
    assertThat(names).containsExactly("demo-run", "empty-run");
    JsonNode demo = listing.path("runs").get(0);
    assertThat(demo.path("rows").asInt()).isEqualTo(WebFixture.ROWS);
    assertThat(demo.path("last_step").asLong()).isEqualTo(10L * WebFixture.ROWS);
    assertThat(demo.path("last_loss").asDouble()).isBetween(0.02, 0.06);
    List<String> files = new ArrayList<>();
    demo.path("samples").forEach(s -> files.add(s.path("file").asText()));
    assertThat(files).containsExactly("step-000300.png", "step-000200.png", "step-000100.png");
    assertThat(demo.path("samples").get(0).path("step").asLong()).isEqualTo(300);
    assertThat(demo.path("config").path("model").path("numClasses").asInt()).isEqualTo(10);
    JsonNode empty = listing.path("runs").get(1);
    assertThat(empty.path("rows").asInt()).isZero();
    assertThat(empty.has("last_step")).isFalse();
    assertThat(empty.path("samples")).isEmpty();
  }

  @Test
  void aRunsMetricsConfigAndSamplesAreServedAsTheFilesOnDisk() throws Exception {
    Path demo = WebFixture.runs().resolve("demo-run");
    HttpResponse<byte[]> csv = get("/v1/runs/demo-run/metrics.csv");
    assertThat(csv.statusCode()).isEqualTo(200);
    assertThat(csv.headers().firstValue("Content-Type")).hasValue("text/csv; charset=utf-8");
    assertThat(csv.body()).isEqualTo(Files.readAllBytes(demo.resolve("metrics.csv")));
    HttpResponse<byte[]> png = get("/v1/runs/demo-run/samples/step-000200.png");
    assertThat(png.statusCode()).isEqualTo(200);
    assertThat(png.headers().firstValue("Content-Type")).hasValue("image/png");
    assertThat(png.body()).isEqualTo(Files.readAllBytes(demo.resolve("samples/step-000200.png")));
    HttpResponse<byte[]> config = get("/v1/runs/demo-run/config.json");
    assertThat(config.statusCode()).isEqualTo(200);
    assertThat(JSON.readTree(config.body()).path("preset").asText()).isEqualTo("demo");
    assertThat(send(server, "POST", "/v1/runs/demo-run/metrics.csv").statusCode()).isEqualTo(405);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/v1/runs/demo-run/samples/..%2F..%2Fsecret.txt",
        "/v1/runs/demo-run/samples/%2e%2e%2fconfig.json",
        "/v1/runs/demo-run/samples/notes.txt",
        "/v1/runs/demo-run/samples/step-000999.png",
        "/v1/runs/demo-run/samples/step-000400.png",
        "/v1/runs/%2e%2e/secret.txt",
        "/v1/runs/%2e%2e/metrics.csv",
        "/v1/runs/..%2Fdemo-run/metrics.csv",
        "/v1/runs/notes/metrics.csv",
        "/v1/runs/nothing/metrics.csv",
        "/v1/runs/demo-run/checkpoints",
        "/v1/runs/demo-run/tensorboard/events",
        "/v1/runs/demo-run",
        "/v1/runs/secret.txt"
      })
  void anythingButAListedFileOfAListedRunIsRefused(String path) throws Exception {
    HttpResponse<byte[]> r = get(path);
    assertThat(r.statusCode()).as(path).isIn(400, 404);
    String body = new String(r.body(), StandardCharsets.UTF_8);
    assertThat(body).doesNotContain(WebFixture.SECRET);
    assertThat(json(r).path("error").asText()).isNotEmpty();
  }

  @Test
  void dotDotSegmentsSentAsTheyAreAreRefused() throws Exception {
    // HttpClient may normalize a path; a raw socket sends exactly these bytes
    for (String path :
        List.of(
            "/v1/runs/demo-run/../secret.txt",
            "/v1/runs/demo-run/samples/../../secret.txt",
            "/v1/runs/../secret.txt/metrics.csv",
            "/v1/runs/demo-run/samples/..\\..\\secret.txt")) {
      try (Socket socket = new Socket("127.0.0.1", server.port())) {
        OutputStream out = socket.getOutputStream();
        out.write(
            ("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
        InputStream in = socket.getInputStream();
        String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        assertThat(answer)
            .as(path)
            .matches("(?s)HTTP/1.1 40[04] .*")
            .doesNotContain(WebFixture.SECRET);
      }
    }
  }

  @Test
  void aServerWithoutRunsSaysHowToAddThem() throws Exception {
    try (RestServer bare =
        RestServer.start(
            WebFixture.base(),
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      HttpResponse<byte[]> list = send(bare, "GET", "/v1/runs");
      assertThat(list.statusCode()).isEqualTo(200);
      assertThat(json(list).path("runs_dir").isNull()).isTrue();
      assertThat(json(list).path("runs")).isEmpty();
      HttpResponse<byte[]> file = send(bare, "GET", "/v1/runs/demo-run/metrics.csv");
      assertThat(file.statusCode()).isEqualTo(404);
      assertThat(json(file).path("error").asText()).contains("serve --runs DIR");
    }
    assertThatThrownBy(
            () ->
                RestServer.start(
                    WebFixture.base(),
                    RestServer.Options.defaults()
                        .withPort(0)
                        .withRuns(WebFixture.runs().resolve("secret.txt")),
                    ServerLog.quiet()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("is not a folder")
        .hasMessageContaining("--runs");
  }
}
