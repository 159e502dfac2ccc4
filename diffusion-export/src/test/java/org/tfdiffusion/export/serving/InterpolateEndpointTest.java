package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code POST /v1/models/NAME[/versions/N]:interpolate} through a real HTTP client on the tiny
 * conditional export: the strip's shape and ends, and every bad request answered with a one-line
 * message naming the fix (the page's pixels against {@code sample --interpolate}'s are in {@link
 * WebPageBrowserTest}).
 */
class InterpolateEndpointTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static RestServer server;
  static HttpClient client;

  @BeforeAll
  static void start() {
    server =
        RestServer.start(
            WebFixture.base(),
            RestServer.Options.defaults().withPort(0).withMaxBatch(8).withPoll(Duration.ZERO),
            ServerLog.quiet());
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  static HttpResponse<String> post(String path, String body) throws Exception {
    return client.send(
        HttpRequest.newBuilder(URI.create(server.url() + path))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aStripHasTheFramesAskedForWithTheTwoSeedsAtItsEnds() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/models/fashion/versions/1:interpolate",
            "{\"seed_a\": 3, \"seed_b\": 7, \"frames\": 3, \"num_steps\": 4, \"class_label\": 1,"
                + " \"guidance_scale\": 3}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode answer = JSON.readTree(r.body());
    assertThat(answer.path("model_spec").path("name").asText()).isEqualTo("fashion");
    assertThat(answer.path("sampler").asText()).contains("dpm-solver++", "steps=4");
    JsonNode frames = answer.path("outputs").path("images_png_bytes");
    assertThat(frames).hasSize(3);
    for (JsonNode f : frames) {
      var image =
          ImageIO.read(
              new ByteArrayInputStream(Base64.getDecoder().decode(f.path("b64").asText())));
      assertThat(image.getWidth()).isEqualTo(28);
      assertThat(image.getRaster().getNumBands()).isEqualTo(1);
    }
    // a longer strip between the same seeds starts and ends at the same two images
    HttpResponse<String> longer =
        post(
            "/v1/models/fashion:interpolate",
            "{\"seed_a\": 3, \"seed_b\": 7, \"frames\": 5, \"num_steps\": 4, \"class_label\": 1,"
                + " \"guidance_scale\": 3}");
    assertThat(longer.statusCode()).as(longer.body()).isEqualTo(200);
    JsonNode five = JSON.readTree(longer.body()).path("outputs").path("images_png_bytes");
    assertThat(five).hasSize(5);
    assertThat(five.get(0)).isEqualTo(frames.get(0));
    assertThat(five.get(4)).isEqualTo(frames.get(2));
    assertThat(frames.get(0)).isNotEqualTo(frames.get(2));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "not an object|[1, 2]|must be a JSON object such as {\"seed_a\": 3",
        "unknown key|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3, \"seed\": 4}|unknown key \"seed\""
            + " in an interpolate request",
        "seed missing|{\"seed_a\": 1, \"frames\": 3}|\"seed_b\" is missing",
        "seed not whole|{\"seed_a\": 1.5, \"seed_b\": 2, \"frames\": 3}|\"seed_a\" must be a whole"
            + " number",
        "frames missing|{\"seed_a\": 1, \"seed_b\": 2}|\"frames\" is missing: give the number of"
            + " images of the strip, 2 to 8",
        "one frame|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 1}|\"frames\" must be a whole number"
            + " from 2 to 8",
        "over max batch|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 9}|from 2 to 8 (the two seeds'"
            + " own images included; at most this server's --max-batch), not 9",
        "no steps|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3, \"num_steps\": 0}|\"num_steps\" must"
            + " be a whole number from 1 to 100",
        "no class|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3}|class-conditional: give"
            + " \"class_label\", 0 to 9",
        "class out of range|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3, \"class_label\": 10}|"
            + "\"class_label\" 10 is out of range",
        "guidance not a number|{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3, \"class_label\": 1,"
            + " \"guidance_scale\": \"x\"}|\"guidance_scale\" must be a number",
      })
  void badRequestsAreAnswered400WithTheFix(String what, String body, String message)
      throws Exception {
    HttpResponse<String> r = post("/v1/models/fashion:interpolate", body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
    String error = JSON.readTree(r.body()).path("error").asText();
    assertThat(error).contains(message);
    assertThat(error.lines()).hasSize(1);
  }

  @Test
  void unknownModelsAndOtherMethodsAreRefusedAsForPredict() throws Exception {
    HttpResponse<String> missing =
        post("/v1/models/nope:interpolate", "{\"seed_a\": 1, \"seed_b\": 2, \"frames\": 3}");
    assertThat(missing.statusCode()).as(missing.body()).isEqualTo(404);
    HttpResponse<String> get =
        client.send(
            HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion:interpolate"))
                .GET()
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(get.statusCode()).as(get.body()).isEqualTo(405);
    assertThat(get.headers().firstValue("Allow")).hasValue("POST");
  }
}
