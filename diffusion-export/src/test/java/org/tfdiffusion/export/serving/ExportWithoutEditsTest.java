package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.SavedModel;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.export.TinyRun;

/**
 * An export written before exports carried the {@code img2img} and {@code inpaint} signatures (made
 * here by removing them from a fresh export's saved_model.pb) keeps loading and serving, and a
 * request for an edit signature is a 404 that says how to get one.
 */
class ExportWithoutEditsTest {

  @Test
  void itServesItsSignaturesAndAnEditRequestSaysToExportAgain(@TempDir Path dir) throws Exception {
    Path base = dir.resolve("models");
    Path version = TinyRun.export(base, "fashion-mnist", () -> {}).directory();
    withoutEditSignatures(version.resolve("saved_model.pb"));
    try (SavedModelBundle bundle = SavedModelBundle.load(version.toString(), "serve")) {
      Set<String> keys = new HashSet<>();
      bundle.signatures().forEach(s -> keys.add(s.key()));
      assertThat(keys)
          .as("the export has no edit signatures")
          .contains("serving_default")
          .doesNotContain(
              ModelExporter.IMG2IMG, ModelExporter.INPAINT, ModelExporter.INPAINT_REPAINT);
    }
    try (RestServer server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      HttpClient client = HttpClient.newHttpClient();
      HttpResponse<String> plain =
          post(
              client,
              server,
              "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [1], \"class_label\": [1],"
                  + " \"guidance_scale\": [2.0], \"num_steps\": 2}}");
      assertThat(plain.statusCode()).as(plain.body()).isEqualTo(200);
      JsonNode outputs = new ObjectMapper().readTree(plain.body()).path("outputs");
      assertThat(outputs.path("images_png_bytes").get(0).has("b64")).isTrue();
      for (String edit :
          new String[] {
            ModelExporter.IMG2IMG, ModelExporter.INPAINT, ModelExporter.INPAINT_REPAINT
          }) {
        HttpResponse<String> r =
            post(
                client,
                server,
                "{\"signature_name\": \"" + edit + "\", \"inputs\": {\"seed\": [1]}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(404);
        assertThat(new ObjectMapper().readTree(r.body()).path("error").asText())
            .contains("\"" + edit + "\" not found", "denoise, sample, serving_default")
            .contains("export the run again with tfdiffusion export to add " + edit);
      }
    }
  }

  private static HttpResponse<String> post(HttpClient client, RestServer server, String body)
      throws Exception {
    return client.send(
        HttpRequest.newBuilder(URI.create(server.url() + "/v1/models/fashion-mnist:predict"))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Rewrites a SavedModel without the edit signatures, as an older export was written. */
  private static void withoutEditSignatures(Path savedModelPb) throws IOException {
    SavedModel saved = SavedModel.parseFrom(Files.readAllBytes(savedModelPb));
    SavedModel.Builder b = saved.toBuilder();
    for (int i = 0; i < b.getMetaGraphsCount(); i++) {
      MetaGraphDef.Builder meta = b.getMetaGraphsBuilder(i);
      assertThat(meta.getSignatureDefMap())
          .containsKeys(
              ModelExporter.IMG2IMG, ModelExporter.INPAINT, ModelExporter.INPAINT_REPAINT);
      meta.removeSignatureDef(ModelExporter.IMG2IMG)
          .removeSignatureDef(ModelExporter.INPAINT)
          .removeSignatureDef(ModelExporter.INPAINT_REPAINT);
    }
    Files.write(savedModelPb, b.build().toByteArray());
  }
}
