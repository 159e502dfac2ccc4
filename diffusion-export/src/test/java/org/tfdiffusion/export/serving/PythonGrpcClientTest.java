package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.TinyRun;

/**
 * The gRPC API called by an independent client: Python's grpcio with stubs that grpcio-tools
 * generates from the same .proto files (src/test/python/tfserving_grpc_client.py), in the shape of
 * TensorFlow Serving's own Python clients. Skipped when python3, grpcio or grpcio-tools is missing
 * ({@code python3 -m pip install grpcio grpcio-tools}).
 */
class PythonGrpcClientTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Path SCRIPT = Path.of("src/test/python/tfserving_grpc_client.py");
  static final Path PROTOS = Path.of("src/main/proto");

  @TempDir static Path dir;
  static boolean python;
  static RestServer server;

  @BeforeAll
  static void start() throws Exception {
    python = pythonHasGrpc();
    if (!python) {
      return;
    }
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withGrpcPort(0).withMaxConcurrent(2),
            ServerLog.quiet());
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  static boolean pythonHasGrpc() {
    try {
      Process p =
          new ProcessBuilder("python3", "-c", "import grpc, grpc_tools.protoc")
              .redirectErrorStream(true)
              .start();
      p.getInputStream().readAllBytes();
      return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  @Test
  void pythonsTensorFlowServingStyleClientGetsTheRestApisImages() throws Exception {
    assumeTrue(
        python,
        "python3 with grpcio and grpcio-tools is not installed (python3 -m pip install grpcio"
            + " grpcio-tools): the Python gRPC client test is skipped");
    Path out = dir.resolve("client-out.json");
    Path err = dir.resolve("client-err.txt");
    Process p =
        new ProcessBuilder(
                "python3",
                SCRIPT.toAbsolutePath().toString(),
                "--target",
                "127.0.0.1:" + server.grpcPort().orElseThrow(),
                "--model",
                "fashion",
                "--proto-dir",
                PROTOS.toAbsolutePath().toString(),
                "--seeds",
                "3,11",
                "--labels",
                "1,8",
                "--guidance",
                "3,1")
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    boolean done = p.waitFor(300, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly();
    }
    assertThat(done).as("the Python client finished within 300 s").isTrue();
    assertThat(p.exitValue()).as(Files.readString(err)).isZero();
    JsonNode got = JSON.readTree(Files.readString(out, StandardCharsets.UTF_8));

    assertThat(got.path("status")).hasSize(1);
    assertThat(got.path("status").get(0).path("version").asLong()).isEqualTo(1);
    assertThat(got.path("status").get(0).path("state").asText()).isEqualTo("AVAILABLE");
    assertThat(got.path("status").get(0).path("error_code").asInt()).isZero();
    List<String> signatures = new ArrayList<>();
    got.path("signatures").forEach(s -> signatures.add(s.asText()));
    assertThat(signatures).contains("serving_default", "sample");
    assertThat(got.path("seed_dtype").asText()).isEqualTo("DT_INT64");
    assertThat(got.path("model_spec").path("name").asText()).isEqualTo("fashion");
    assertThat(got.path("model_spec").path("version").asLong()).isEqualTo(1);
    assertThat(got.path("model_spec").path("signature_name").asText()).isEqualTo("serving_default");
    List<Long> shape = new ArrayList<>();
    got.path("images_shape").forEach(d -> shape.add(d.asLong()));
    assertThat(shape).containsExactly(2L, 28L, 28L, 1L);
    assertThat(got.path("unknown_model").path("code").asText()).isEqualTo("NOT_FOUND");
    assertThat(got.path("unknown_model").path("details").asText()).contains("no-such-model");

    HttpResponse<String> r =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .build()
            .send(
                HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion:predict"))
                    .timeout(Duration.ofSeconds(300))
                    .POST(
                        HttpRequest.BodyPublishers.ofString(
                            "{\"inputs\": {\"seed\": [3, 11], \"class_label\": [1, 8],"
                                + " \"guidance_scale\": [3.0, 1.0]}}"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode rest = JSON.readTree(r.body()).path("outputs");
    assertThat(floats(got.path("images"))).containsExactly(floats(rest.path("images")));
    for (int i = 0; i < 2; i++) {
      assertThat(got.path("png_b64").get(i).asText())
          .isEqualTo(rest.path("images_png_bytes").get(i).path("b64").asText());
    }
  }

  /** All numbers of a (nested) JSON list as floats, row-major. */
  static float[] floats(JsonNode node) {
    List<Float> out = new ArrayList<>();
    flatten(node, out);
    float[] f = new float[out.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = out.get(i);
    }
    return f;
  }

  private static void flatten(JsonNode node, List<Float> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      out.add(node.floatValue());
    }
  }
}
