package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Tensor;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.export.TinyRun;
import org.tfdiffusion.graph.TensorIO;

/**
 * The server through a real HTTP client, on a free port, with a real export of a tiny model
 * (DPM-Solver++ with 4 steps).
 */
class RestServerTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int MAX_BATCH = 8;

  @TempDir static Path dir;
  static Path base;
  static ModelExporter.Exported v1;
  static RestServer server;
  static HttpClient client;

  @BeforeAll
  static void start() {
    base = dir.resolve("models");
    v1 = TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults()
                .withPort(0)
                .withMaxBatch(MAX_BATCH)
                .withMaxConcurrent(3)
                .withPoll(Duration.ofMillis(200)),
            ServerLog.quiet());
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  record Answer(int status, JsonNode json) {
    String error() {
      return json.path("error").asText();
    }
  }

  static Answer call(RestServer s, String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.url() + path));
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    HttpResponse<byte[]> r = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    return new Answer(r.statusCode(), JSON.readTree(r.body()));
  }

  static Answer get(String path) throws Exception {
    return call(server, "GET", path, null);
  }

  static Answer post(String path, String body) throws Exception {
    return call(server, "POST", path, body);
  }

  /** All numbers of a nested JSON list, row-major. */
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

  static double maxAbsDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  /** The images of serving_default or sample, run on the SavedModel in this process. */
  static float[] inProcess(
      String signature, long[] seeds, int[] labels, float[] guidance, Integer numSteps) {
    try (SavedModelBundle bundle = SavedModelBundle.load(v1.directory().toString(), "serve");
        TInt64 s = TensorIO.longs(seeds);
        TInt32 l = TInt32.vectorOf(labels);
        TFloat32 w = TFloat32.vectorOf(guidance);
        TInt32 n = TInt32.scalarOf(numSteps == null ? 1 : numSteps)) {
      Map<String, Tensor> in =
          new HashMap<>(Map.of("seed", s, "class_label", l, "guidance_scale", w));
      if (numSteps != null) {
        in.put("num_steps", n);
      }
      try (Result r = bundle.function(signature).call(in)) {
        return TensorIO.toFloats(r.get("images").orElseThrow());
      }
    }
  }

  @Test
  void modelStatusIsTfServingsJson() throws Exception {
    String expected =
        "{\"model_version_status\":[{\"version\":\"1\",\"state\":\"AVAILABLE\","
            + "\"status\":{\"error_code\":\"OK\",\"error_message\":\"\"}}]}";
    Answer all = get("/v1/models/fashion");
    assertThat(all.status()).isEqualTo(200);
    assertThat(all.json()).isEqualTo(JSON.readTree(expected));
    Answer one = get("/v1/models/fashion/versions/1");
    assertThat(one.status()).isEqualTo(200);
    assertThat(one.json()).isEqualTo(JSON.readTree(expected));
  }

  @Test
  void metadataListsTheSignaturesWithDtypesAndShapes() throws Exception {
    for (String path :
        List.of("/v1/models/fashion/metadata", "/v1/models/fashion/versions/1/metadata")) {
      Answer a = get(path);
      assertThat(a.status()).isEqualTo(200);
      JsonNode spec = a.json().path("model_spec");
      assertThat(spec.path("name").asText()).isEqualTo("fashion");
      assertThat(spec.path("version").asText()).isEqualTo("1");
      assertThat(spec.path("signature_name").asText()).isEmpty();
      JsonNode defs = a.json().path("metadata").path("signature_def").path("signature_def");
      assertThat(defs.has("serving_default")).isTrue();
      assertThat(defs.has("sample")).isTrue();
      assertThat(defs.has("denoise")).isTrue();
      JsonNode serving = defs.path("serving_default");
      assertThat(serving.path("method_name").asText()).isEqualTo("tensorflow/serving/predict");
      JsonNode seed = serving.path("inputs").path("seed");
      assertThat(seed.path("dtype").asText()).isEqualTo("DT_INT64");
      assertThat(seed.path("tensor_shape").path("dim").get(0).path("size").asText())
          .isEqualTo("-1");
      assertThat(seed.path("tensor_shape").path("unknown_rank").asBoolean()).isFalse();
      assertThat(seed.path("name").asText()).endsWith(":0");
      assertThat(serving.path("inputs").path("class_label").path("dtype").asText())
          .isEqualTo("DT_INT32");
      assertThat(serving.path("inputs").path("guidance_scale").path("dtype").asText())
          .isEqualTo("DT_FLOAT");
      JsonNode images = serving.path("outputs").path("images");
      assertThat(images.path("dtype").asText()).isEqualTo("DT_FLOAT");
      List<String> dims = new ArrayList<>();
      images.path("tensor_shape").path("dim").forEach(d -> dims.add(d.path("size").asText()));
      assertThat(dims).containsExactly("-1", "28", "28", "1");
      assertThat(serving.path("outputs").path("images_png_bytes").path("dtype").asText())
          .isEqualTo("DT_STRING");
      JsonNode numSteps = defs.path("sample").path("inputs").path("num_steps");
      assertThat(numSteps.path("dtype").asText()).isEqualTo("DT_INT32");
      assertThat(numSteps.path("tensor_shape").path("dim")).isEmpty();
      assertThat(defs.path("denoise").path("outputs").path("eps").path("dtype").asText())
          .isEqualTo("DT_FLOAT");
    }
  }

  @Test
  void bothRequestFormatsGiveTheSameImagesAsTheSavedModelInProcess() throws Exception {
    long[] seeds = {3, 11, 3};
    int[] labels = {1, 8, 9};
    float[] guidance = {3f, 1f, 0f};
    Answer rows =
        post(
            "/v1/models/fashion:predict",
            "{\"instances\": [{\"seed\": 3, \"class_label\": 1, \"guidance_scale\": 3.0},"
                + " {\"seed\": 11, \"class_label\": 8, \"guidance_scale\": 1},"
                + " {\"seed\": 3, \"class_label\": 9, \"guidance_scale\": 0.0}]}");
    assertThat(rows.status()).as(rows.json().toString()).isEqualTo(200);
    Answer columns =
        post(
            "/v1/models/fashion/versions/1:predict",
            "{\"signature_name\": \"serving_default\", \"inputs\": {\"seed\": [3, 11, 3],"
                + " \"class_label\": [1, 8, 9], \"guidance_scale\": [3.0, 1.0, 0.0]}}");
    assertThat(columns.status()).as(columns.json().toString()).isEqualTo(200);

    JsonNode predictions = rows.json().path("predictions");
    assertThat(predictions).hasSize(3);
    List<Float> fromRows = new ArrayList<>();
    for (JsonNode p : predictions) {
      assertThat(p.path("images")).hasSize(28);
      for (float f : floats(p.path("images"))) {
        fromRows.add(f);
      }
    }
    float[] rowImages = new float[fromRows.size()];
    for (int i = 0; i < rowImages.length; i++) {
      rowImages[i] = fromRows.get(i);
    }
    float[] columnImages = floats(columns.json().path("outputs").path("images"));
    assertThat(columnImages).containsExactly(rowImages);

    float[] expected = inProcess("serving_default", seeds, labels, guidance, null);
    assertThat(maxAbsDiff(rowImages, expected)).isLessThanOrEqualTo(1e-5);

    JsonNode png = columns.json().path("outputs").path("images_png_bytes");
    assertThat(png).hasSize(3);
    for (int i = 0; i < 3; i++) {
      String b64 = png.get(i).path("b64").asText();
      assertThat(predictions.get(i).path("images_png_bytes").path("b64").asText()).isEqualTo(b64);
      BufferedImage image = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
      assertThat(image.getWidth()).isEqualTo(28);
      assertThat(image.getHeight()).isEqualTo(28);
      int pixel = image.getRaster().getSample(10, 12, 0);
      assertThat((double) pixel)
          .isCloseTo(
              Math.round(rowImages[i * 784 + 12 * 28 + 10] * 255.0),
              org.assertj.core.data.Offset.offset(1.0));
    }
  }

  @Test
  void theSampleSignatureTakesNumStepsInTheColumnarFormat() throws Exception {
    Answer a =
        post(
            "/v1/models/fashion:predict",
            "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [5, 6], \"class_label\": [2,"
                + " 2], \"guidance_scale\": [2.0, 2.0], \"num_steps\": 7}}");
    assertThat(a.status()).as(a.json().toString()).isEqualTo(200);
    float[] images = floats(a.json().path("outputs").path("images"));
    float[] expected =
        inProcess("sample", new long[] {5, 6}, new int[] {2, 2}, new float[] {2f, 2f}, 7);
    assertThat(maxAbsDiff(images, expected)).isLessThanOrEqualTo(1e-5);

    Answer rows =
        post(
            "/v1/models/fashion:predict",
            "{\"signature_name\": \"sample\", \"instances\": [{\"seed\": 5, \"class_label\": 2,"
                + " \"guidance_scale\": 2.0, \"num_steps\": 7}]}");
    assertThat(rows.status()).isEqualTo(400);
    assertThat(rows.error()).contains("num_steps", "\"inputs\"", "columnar");

    Answer tooMany =
        post(
            "/v1/models/fashion:predict",
            "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [5], \"class_label\": [2],"
                + " \"guidance_scale\": [2.0], \"num_steps\": 101}}");
    assertThat(tooMany.status()).isEqualTo(400);
    assertThat(tooMany.error()).contains("num_steps must be in [1, 100]").doesNotContain("[[");
  }

  static final String ROW = "{\"seed\": 1, \"class_label\": 1, \"guidance_scale\": 1.0}";

  static Stream<Object[]> errors() {
    String predict = "/v1/models/fashion:predict";
    return Stream.of(
        new Object[] {
          "malformed JSON", "POST", predict, "{\"instances\": [", 400, "JSON parse error"
        },
        new Object[] {"not an object", "POST", predict, "[1, 2]", 400, "JSON object"},
        new Object[] {"empty body", "POST", predict, "", 400, "empty"},
        new Object[] {
          "no instances/inputs",
          "POST",
          predict,
          "{\"signature_name\": \"sample\"}",
          400,
          "missing \"instances\" or \"inputs\""
        },
        new Object[] {
          "both formats", "POST", predict, "{\"instances\": [], \"inputs\": {}}", 400, "both"
        },
        new Object[] {
          "missing input",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1, \"class_label\": 1}]}",
          400,
          "missing input 'guidance_scale'"
        },
        new Object[] {
          "missing input (columnar)",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [1], \"guidance_scale\": [1.0]}}",
          400,
          "missing input 'class_label'"
        },
        new Object[] {
          "extra input",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1, \"class_label\": 1, \"guidance_scale\": 1.0, \"foo\": 2}]}",
          400,
          "input 'foo', which signature 'serving_default' does not take"
        },
        new Object[] {
          "seed not an integer",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1.5, \"class_label\": 1, \"guidance_scale\": 1.0}]}",
          400,
          "instances[0].seed is a number (1.5); DT_INT64 needs an integer"
        },
        new Object[] {
          "seed a string",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [\"x\"], \"class_label\": [1], \"guidance_scale\": [1.0]}}",
          400,
          "input 'seed'[0] is a string"
        },
        new Object[] {
          "label out of int32",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [1], \"class_label\": [3000000000], \"guidance_scale\": [1.0]}}",
          400,
          "out of range for DT_INT32"
        },
        new Object[] {
          "wrong shape",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": 1, \"class_label\": [1], \"guidance_scale\": [1.0]}}",
          400,
          "input 'seed' has shape [], but signature 'serving_default' needs [-1]"
        },
        new Object[] {
          "ragged",
          "POST",
          "/v1/models/fashion:predict",
          "{\"signature_name\": \"denoise\", \"inputs\": {\"x_t\": [[[[0.0]]], [[0.0]]], \"t\": [1, 2],"
              + " \"class_label\": [1, 1]}}",
          400,
          "not rectangular"
        },
        new Object[] {
          "mismatched batch",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [1, 2], \"class_label\": [1], \"guidance_scale\": [1.0, 1.0]}}",
          400,
          "different batch sizes"
        },
        new Object[] {
          "batch too large",
          "POST",
          predict,
          "{\"instances\": ["
              + String.join(", ", java.util.Collections.nCopies(MAX_BATCH + 1, ROW))
              + "]}",
          400,
          "batch size 9 is over this server's limit of 8"
        },
        new Object[] {
          "batch too large (columnar)",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [1,2,3,4,5,6,7,8,9], \"class_label\": [1,1,1,1,1,1,1,1,1],"
              + " \"guidance_scale\": [1,1,1,1,1,1,1,1,1]}}",
          400,
          "batch size 9"
        },
        new Object[] {"empty batch", "POST", predict, "{\"instances\": []}", 400, "empty"},
        new Object[] {
          "guidance beyond float32",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1, \"class_label\": 1, \"guidance_scale\": 1e39}]}",
          400,
          "instances[0].guidance_scale is 1.0E39, out of range for DT_FLOAT"
        },
        new Object[] {
          "absurd guidance",
          "POST",
          predict,
          "{\"inputs\": {\"seed\": [1], \"class_label\": [1], \"guidance_scale\": [1e30]}}",
          400,
          "guidance_scale must be in [0, 100]"
        },
        new Object[] {
          "negative guidance",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1, \"class_label\": 1, \"guidance_scale\": -2}]}",
          400,
          "guidance_scale must be in [0, 100]"
        },
        new Object[] {
          "x_t beyond float32 range",
          "POST",
          predict,
          "{\"signature_name\": \"denoise\", \"inputs\": {\"x_t\": "
              + zeros().replaceFirst("0\\.0", "1e300")
              + ", \"t\": [1], \"class_label\": [1]}}",
          400,
          "out of range for DT_FLOAT"
        },
        new Object[] {
          "label out of range (assert op)",
          "POST",
          predict,
          "{\"instances\": [{\"seed\": 1, \"class_label\": 11, \"guidance_scale\": 1.0}]}",
          400,
          "class_label must be in [0, 9]"
        },
        new Object[] {
          "t out of range (assert op)",
          "POST",
          predict,
          "{\"signature_name\": \"denoise\", \"inputs\": {\"x_t\": "
              + zeros()
              + ", \"t\": [1000], \"class_label\": [1]}}",
          400,
          "t must be in [0, 1000)"
        },
        new Object[] {
          "unknown model",
          "POST",
          "/v1/models/nope:predict",
          "{\"instances\": [" + ROW + "]}",
          404,
          "Servable not found for request: Latest(nope)"
        },
        new Object[] {"unknown model status", "GET", "/v1/models/nope", null, 404, "nope"},
        new Object[] {
          "unknown version",
          "POST",
          "/v1/models/fashion/versions/7:predict",
          "{\"instances\": [" + ROW + "]}",
          404,
          "Specific(fashion, 7)"
        },
        new Object[] {
          "unknown version status", "GET", "/v1/models/fashion/versions/7", null, 404, "7"
        },
        new Object[] {
          "unknown signature",
          "POST",
          predict,
          "{\"signature_name\": \"bogus\", \"instances\": [" + ROW + "]}",
          404,
          "\"bogus\" not found"
        },
        new Object[] {"unknown path", "GET", "/v2/whatever", null, 404, "Malformed request"},
        new Object[] {"unknown verb", "POST", "/v1/models/fashion:explode", "{}", 404, "explode"},
        new Object[] {"GET predict", "GET", predict, null, 405, "POST"},
        new Object[] {"POST status", "POST", "/v1/models/fashion", "{}", 405, "GET"});
  }

  private static String zeros() {
    StringBuilder s = new StringBuilder("[[");
    for (int y = 0; y < 28; y++) {
      s.append(y == 0 ? "" : ",").append('[');
      for (int x = 0; x < 28; x++) {
        s.append(x == 0 ? "" : ",").append("[0.0]");
      }
      s.append(']');
    }
    return s.append("]]").toString();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("errors")
  void errorsAreTfServingStyleAndTheServerKeepsAnswering(
      String what, String method, String path, String body, int status, String message)
      throws Exception {
    Answer a = call(server, method, path, body);
    assertThat(a.status()).as(what + ": " + a.json()).isEqualTo(status);
    assertThat(a.json().fieldNames()).toIterable().containsExactly("error");
    assertThat(a.error()).as(what).contains(message);
    assertThat(a.error()).doesNotContain("\tat ", "Exception", "[[{{node");
    assertThat(get("/v1/models/fashion").status()).isEqualTo(200);
  }

  @Test
  void eightConcurrentRequestsGiveTheSameImagesAsSequentialOnes() throws Exception {
    long[] seeds = {1, 2, 3, 1, 4, 2, 5, 1};
    Map<Long, float[]> sequential = new HashMap<>();
    for (long seed : seeds) {
      if (!sequential.containsKey(seed)) {
        sequential.put(seed, images(seed));
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(seeds.length);
    try {
      List<Future<float[]>> futures = new ArrayList<>();
      for (long seed : seeds) {
        Callable<float[]> task = () -> images(seed);
        futures.add(pool.submit(task));
      }
      for (int i = 0; i < seeds.length; i++) {
        assertThat(futures.get(i).get())
            .as("seed " + seeds[i])
            .containsExactly(sequential.get(seeds[i]));
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(sequential.get(1L)).isNotEqualTo(sequential.get(2L));
    assertThat(server.running()).isZero();
  }

  private static float[] images(long seed) throws Exception {
    Answer a =
        post(
            "/v1/models/fashion:predict",
            "{\"instances\": [{\"seed\": "
                + seed
                + ", \"class_label\": "
                + (seed % 10)
                + ", \"guidance_scale\": 2.0}]}");
    assertThat(a.status()).as(a.json().toString()).isEqualTo(200);
    return floats(a.json().path("predictions").get(0).path("images"));
  }

  @Test
  void aNewVersionBecomesTheDefaultAndATemporaryFolderIsIgnored() throws Exception {
    Path base2 = dir.resolve("hot");
    copy(v1.directory(), base2.resolve("fashion").resolve("1"));
    try (RestServer s =
        RestServer.start(
            base2,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ofMillis(100)),
            ServerLog.quiet())) {
      assertThat(defaultVersion(s)).isEqualTo("1");
      // a complete SavedModel in a folder whose name is not a number: not a version
      copy(v1.directory(), base2.resolve("fashion").resolve(".tmp-export-x"));
      Thread.sleep(300);
      assertThat(versions(s)).containsExactly("1");
      // a real export: while its files are written (in .tmp-export-*), nothing changes
      ModelExporter.Exported v2 =
          TinyRun.export(
              base2,
              "fashion",
              () -> {
                try {
                  assertThat(versions(s)).containsExactly("1");
                } catch (Exception e) {
                  throw new AssertionError(e);
                }
              });
      assertThat(v2.version()).isEqualTo(2);
      // version 1 serves until version 2 has loaded (in the background), then version 2
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (!defaultVersion(s).equals("2") && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(defaultVersion(s)).isEqualTo("2");
      assertThat(versions(s)).containsExactly("2", "1");
      Answer latest =
          call(s, "POST", "/v1/models/fashion:predict", "{\"instances\": [" + ROW + "]}");
      assertThat(latest.status()).isEqualTo(200);
      Answer old =
          call(
              s, "POST", "/v1/models/fashion/versions/1:predict", "{\"instances\": [" + ROW + "]}");
      assertThat(old.status()).isEqualTo(200);
      // the same run and sampler: the same image from both versions
      assertThat(floats(old.json().path("predictions").get(0).path("images")))
          .containsExactly(floats(latest.json().path("predictions").get(0).path("images")));
      assertThat(s.registry().isLoaded("fashion", 1)).isTrue();
      assertThat(s.registry().isLoaded("fashion", 2)).isTrue();
      // a version deleted from disk is no longer served, and its session is closed
      org.tfdiffusion.export.TinyRun.deleteQuietly(base2.resolve("fashion").resolve("1"));
      Answer gone =
          call(
              s, "POST", "/v1/models/fashion/versions/1:predict", "{\"instances\": [" + ROW + "]}");
      assertThat(gone.status()).isEqualTo(404);
      assertThat(gone.error()).contains("Specific(fashion, 1)").contains("[2]");
      assertThat(s.registry().isLoaded("fashion", 1)).isFalse();
      assertThat(versions(s)).containsExactly("2");
    }
  }

  @Test
  void aPredictionThatFindsNoSlotInTimeGets429() throws Exception {
    Path base3 = dir.resolve("busy");
    copy(v1.directory(), base3.resolve("fashion").resolve("1"));
    try (RestServer s =
        RestServer.start(
            base3,
            RestServer.Options.defaults()
                .withPort(0)
                .withMaxConcurrent(1)
                .withQueueTimeout(Duration.ZERO)
                .withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      assertThat(call(s, "GET", "/v1/models/fashion", null).status()).isEqualTo(200); // loads it
      String slow =
          "{\"signature_name\": \"sample\", \"inputs\": {\"seed\": [1, 2, 3, 4, 5, 6, 7, 8],"
              + " \"class_label\": [1, 1, 1, 1, 1, 1, 1, 1], \"guidance_scale\": [1, 1, 1, 1, 1, 1, 1,"
              + " 1], \"num_steps\": 100}}";
      ExecutorService pool = Executors.newSingleThreadExecutor();
      try {
        Future<Answer> first =
            pool.submit(() -> call(s, "POST", "/v1/models/fashion:predict", slow));
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (s.running() == 0 && !first.isDone() && System.nanoTime() < deadline) {
          Thread.sleep(1);
        }
        assertThat(s.running()).as("the slow prediction is running").isEqualTo(1);
        Answer refused =
            call(s, "POST", "/v1/models/fashion:predict", "{\"instances\": [" + ROW + "]}");
        assertThat(refused.status()).isEqualTo(429);
        assertThat(refused.error()).contains("busy").contains("--max-concurrent");
        assertThat(first.get().status()).isEqualTo(200);
      } finally {
        pool.shutdownNow();
      }
      assertThat(
              call(s, "POST", "/v1/models/fashion:predict", "{\"instances\": [" + ROW + "]}")
                  .status())
          .isEqualTo(200);
    }
  }

  private static String defaultVersion(RestServer s) throws Exception {
    Answer a = call(s, "GET", "/v1/models/fashion/metadata", null);
    assertThat(a.status()).isEqualTo(200);
    return a.json().path("model_spec").path("version").asText();
  }

  private static List<String> versions(RestServer s) throws Exception {
    Answer a = call(s, "GET", "/v1/models/fashion", null);
    assertThat(a.status()).isEqualTo(200);
    List<String> out = new ArrayList<>();
    a.json().path("model_version_status").forEach(v -> out.add(v.path("version").asText()));
    return out;
  }

  static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }
}
