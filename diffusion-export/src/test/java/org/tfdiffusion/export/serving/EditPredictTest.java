package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.Consumer;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.export.TinyRun;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.EditInputs;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Resampling;
import org.tfdiffusion.sampling.editing.Strength;

/**
 * {@code :predict} with the {@code img2img} and {@code inpaint} signatures through a real HTTP
 * client: images and masks as float tensors and as PNG bytes ({@code {"b64": ...}}), against the
 * Java path of {@code sample --init/--mask} (an {@link ImageSampler} on the run with the {@link
 * EditMode} of the same strength) fed the PNGs' 8-bit values divided by 255; bad input answered 400
 * with a one-line {@code {"error": ...}}.
 */
class EditPredictTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int SIZE = 28;
  private static final int PIXELS = SIZE * SIZE;
  private static final long[] SEEDS = {4, 9};
  private static final int[] LABELS = {2, 7};
  private static final float[] GUIDANCE = {2f, 0f};
  private static final String PREDICT = "/v1/models/fashion:predict";

  /** What the served export and the in-process sampler may differ by (as RestServerTest). */
  private static final double TOLERANCE = 1e-5;

  @TempDir static Path dir;
  static RestServer server;
  static HttpClient client;

  @BeforeAll
  static void start() {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ofMillis(200)),
            ServerLog.quiet());
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  record Answer(int status, JsonNode json, String body) {}

  static Answer post(String body) throws Exception {
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(URI.create(server.url() + PREDICT))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), JSON.readTree(r.body()), r.body());
  }

  /** 8-bit gray values of two different images, row-major [2, 28, 28]. */
  private static int[] grayValues() {
    int[] out = new int[2 * PIXELS];
    for (int e = 0; e < out.length; e++) {
      out[e] = (e * 37 + (e / PIXELS) * 101 + (e % SIZE) * 5) % 256;
    }
    return out;
  }

  /** 8-bit masks [2, 28, 28]: the left half white in the first, the top rows in the second. */
  private static int[] maskValues() {
    int[] out = new int[2 * PIXELS];
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        out[y * SIZE + x] = x < SIZE / 2 ? 255 : 0;
        out[PIXELS + y * SIZE + x] = y < 10 ? 255 : y == 10 ? 128 : 0;
      }
    }
    return out;
  }

  /** The values divided by 255, as the Java path is given them. */
  private static float[] unit(int[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = values[i] / 255f;
    }
    return out;
  }

  /** Row {@code row} of 8-bit gray values as a PNG of {@code w}×{@code h}. */
  private static String grayPng(int[] values, int row, int w, int h) {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.getRaster().setSample(x, y, 0, values[(row * PIXELS + y * SIZE + x) % values.length]);
      }
    }
    return b64(image);
  }

  private static String b64(BufferedImage image) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Base64.getEncoder().encodeToString(out.toByteArray());
  }

  /** A request body of the columnar format for an edit signature, the rest set by {@code more}. */
  private static String body(String signature, double strength, Consumer<ObjectNode> more) {
    ObjectNode root = JSON.createObjectNode();
    root.put("signature_name", signature);
    ObjectNode inputs = root.putObject("inputs");
    ArrayNode seeds = inputs.putArray("seed");
    ArrayNode labels = inputs.putArray("class_label");
    ArrayNode guidance = inputs.putArray("guidance_scale");
    for (int i = 0; i < SEEDS.length; i++) {
      seeds.add(SEEDS[i]);
      labels.add(LABELS[i]);
      guidance.add(GUIDANCE[i]);
    }
    inputs.put("strength", strength);
    more.accept(inputs);
    return root.toString();
  }

  /** {@code name}: the two rows as {@code {"b64": PNG}}. */
  private static Consumer<ObjectNode> files(String name, int[] values) {
    return inputs -> {
      ArrayNode list = inputs.putArray(name);
      for (int row = 0; row < 2; row++) {
        list.addObject().put("b64", grayPng(values, row, SIZE, SIZE));
      }
    };
  }

  /** {@code name}: the two rows as nested lists [2, 28, 28, 1] of {@code values}. */
  private static Consumer<ObjectNode> tensor(String name, float[] values, int size, int channels) {
    return inputs -> {
      ArrayNode rows = inputs.putArray(name);
      for (int b = 0; b < 2; b++) {
        ArrayNode r = rows.addArray();
        for (int y = 0; y < size; y++) {
          ArrayNode line = r.addArray();
          for (int x = 0; x < size; x++) {
            ArrayNode px = line.addArray();
            for (int c = 0; c < channels; c++) {
              px.add(values[(b * PIXELS + y * SIZE + x) % values.length]);
            }
          }
        }
      }
    };
  }

  private static float[] inProcess(EditMode mode, EditInputs inputs) {
    try (ImageSampler sampler =
        ImageSampler.open(
            TinyRun.get(),
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(TinyRun.STEPS),
            mode,
            false,
            0,
            SessionOptions.defaults())) {
      return sampler.sample(SEEDS, LABELS, GUIDANCE, inputs, i -> {}).pixels();
    }
  }

  private static float[] images(Answer a) {
    assertThat(a.status()).as(a.body()).isEqualTo(200);
    return RestServerTest.floats(a.json().path("outputs").path("images"));
  }

  @Test
  void imageToImageWithPngsOrTensorsGivesTheJavaSamplersImages() throws Exception {
    int[] gray = grayValues();
    float[] expected = inProcess(EditMode.imageToImage(0.5), EditInputs.image(unit(gray), 2));
    float[] fromPngs = images(post(body(ModelExporter.IMG2IMG, 0.5, files("images", gray))));
    assertThat(RestServerTest.maxAbsDiff(fromPngs, expected)).isLessThanOrEqualTo(TOLERANCE);
    float[] fromTensors =
        images(post(body(ModelExporter.IMG2IMG, 0.5, tensor("images", unit(gray), SIZE, 1))));
    assertThat(fromTensors).containsExactly(fromPngs);
    // strength 1 is plain sampling of the same seeds
    float[] plain;
    try (ImageSampler sampler =
        ImageSampler.open(
            TinyRun.get(),
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(TinyRun.STEPS),
            false,
            0,
            SessionOptions.defaults())) {
      plain = sampler.sample(SEEDS, LABELS, GUIDANCE, i -> {}).pixels();
    }
    float[] full = images(post(body(ModelExporter.IMG2IMG, 1, files("images", gray))));
    assertThat(RestServerTest.maxAbsDiff(full, plain)).isLessThanOrEqualTo(TOLERANCE);
    Answer a = post(body(ModelExporter.IMG2IMG, 0.5, files("images", gray)));
    assertThat(a.json().path("outputs").path("images_png_bytes").get(0).has("b64")).isTrue();
  }

  @Test
  void inpaintingWithPngMasksGivesTheJavaSamplersImages() throws Exception {
    int[] gray = grayValues();
    int[] mask = maskValues();
    for (double strength : new double[] {1, 0.75}) {
      float[] expected =
          inProcess(
              EditMode.inpaint(new Inpainting(new Strength(strength), Resampling.none())),
              EditInputs.inpaint(unit(gray), 2, unit(mask), 2));
      float[] actual =
          images(
              post(
                  body(
                      ModelExporter.INPAINT,
                      strength,
                      files("images", gray).andThen(files("mask", mask)))));
      assertThat(RestServerTest.maxAbsDiff(actual, expected))
          .as("strength %s", strength)
          .isLessThanOrEqualTo(TOLERANCE);
      for (int e = 0; e < actual.length; e++) {
        if (mask[e] == 0) {
          assertThat(actual[e])
              .isCloseTo(gray[e] / 255f, org.assertj.core.data.Offset.offset(1e-6f));
        }
      }
    }
  }

  record Bad(String what, String body, String message) {}

  @Test
  void badInputIsAnswered400WithOneLineNamingTheFix() throws Exception {
    int[] gray = grayValues();
    int[] mask = maskValues();
    BufferedImage colour = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    colour.setRGB(3, 4, 0xff0000);
    Consumer<ObjectNode> bigPng =
        inputs -> {
          ArrayNode list = inputs.putArray("images");
          for (int row = 0; row < 2; row++) {
            list.addObject().put("b64", grayPng(gray, row, 32, 30));
          }
        };
    Consumer<ObjectNode> smallMask =
        inputs -> {
          ArrayNode list = inputs.putArray("mask");
          for (int row = 0; row < 2; row++) {
            list.addObject().put("b64", grayPng(mask, row, 14, 14));
          }
        };
    Consumer<ObjectNode> colourMask =
        inputs -> {
          ArrayNode list = inputs.putArray("mask");
          list.addObject().put("b64", b64(colour));
          list.addObject().put("b64", b64(colour));
        };
    float[] bright = unit(gray);
    bright[3] = 255;
    List<Bad> cases =
        List.of(
            new Bad(
                "a PNG of another size",
                body(ModelExporter.IMG2IMG, 0.5, bigPng),
                "input 'images'[0] is a 30×32 grayscale image but input 'images' takes 28×28"
                    + " images: resize it to 28×28"),
            new Bad(
                "a tensor of another size",
                body(ModelExporter.IMG2IMG, 0.5, tensor("images", unit(gray), 20, 1)),
                "input 'images' has shape [2,20,20,1], but signature 'img2img' needs"
                    + " [-1,28,28,1]: resize the images to 28×28"),
            new Bad(
                "RGB values for a grayscale model",
                body(ModelExporter.IMG2IMG, 0.5, tensor("images", unit(gray), SIZE, 3)),
                "convert the images to grayscale (1 channel)"),
            new Bad(
                "a mask of another size",
                body(ModelExporter.INPAINT, 1, files("images", gray).andThen(smallMask)),
                "is a 14×14 grayscale image but input 'mask' takes 28×28 images: resize it to"
                    + " 28×28"),
            new Bad(
                "a mask with colours",
                body(ModelExporter.INPAINT, 1, files("images", gray).andThen(colourMask)),
                "has colours: give the mask as a grayscale PNG"),
            new Bad(
                "a mask tensor with 3 channels",
                body(
                    ModelExporter.INPAINT,
                    1,
                    files("images", gray).andThen(tensor("mask", unit(mask), SIZE, 3))),
                "a mask has 1 channel"),
            new Bad(
                "strength 0",
                body(ModelExporter.IMG2IMG, 0, files("images", gray)),
                "input 'strength' is 0.0: strength must be in (0, 1]"),
            new Bad(
                "strength above 1",
                body(ModelExporter.IMG2IMG, 1.5, files("images", gray)),
                "input 'strength' is 1.5: strength must be in (0, 1]"),
            new Bad(
                "a strength that runs no step",
                body(ModelExporter.IMG2IMG, 0.2, files("images", gray)),
                "runs none of this export's 4 steps (⌊4 · 0.2⌋ = 0): give a strength of at"
                    + " least 0.25"),
            new Bad(
                "pixels in 0..255",
                body(ModelExporter.IMG2IMG, 0.5, tensor("images", bright, SIZE, 1)),
                "input 'images' is 255.0: images must be in [0, 1] (8-bit values divided by 255)"),
            new Bad(
                "not base64",
                body(
                    ModelExporter.IMG2IMG,
                    0.5,
                    inputs -> inputs.putArray("images").addObject().put("b64", "***")),
                "is not valid base64"),
            new Bad(
                "bytes that are no image",
                body(
                    ModelExporter.IMG2IMG,
                    0.5,
                    inputs -> inputs.putArray("images").addObject().put("b64", "bm90IGFuIGltYWdl")),
                "is no image that a PNG or JPEG decoder recognises"),
            new Bad(
                "one b64 object, not a list",
                body(
                    ModelExporter.IMG2IMG,
                    0.5,
                    inputs -> inputs.putObject("images").put("b64", grayPng(gray, 0, SIZE, SIZE))),
                "the columnar format takes a list of images"),
            new Bad(
                "the row format, which cannot carry the scalar strength",
                "{\"signature_name\": \"img2img\", \"instances\": [{\"seed\": 1, \"class_label\":"
                    + " 1, \"guidance_scale\": 1.0, \"strength\": 0.5, \"images\": {\"b64\": \""
                    + grayPng(gray, 0, SIZE, SIZE)
                    + "\"}}]}",
                "Send the request in the columnar format"));
    for (Bad bad : cases) {
      Answer a = post(bad.body());
      assertThat(a.status()).as(bad.what() + ": " + a.body()).isEqualTo(400);
      assertThat(a.json().size()).as(bad.what()).isEqualTo(1);
      String error = a.json().path("error").asText();
      assertThat(error).as(bad.what()).contains(bad.message()).doesNotContain("\n", "Exception");
    }
  }
}
