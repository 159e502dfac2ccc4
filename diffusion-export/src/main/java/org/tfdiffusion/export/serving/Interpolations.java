package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import javax.imageio.ImageIO;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.SampleGrid;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;

/**
 * {@code POST /v1/models/NAME[/versions/N]:interpolate}, an extension beside TensorFlow Serving's
 * API: the strip of F frames between two seeds' images that {@code sample --model
 * saved_models/NAME/N --interpolate A,B --frames F --steps S} draws (docs/editing.md), computed in
 * this process's own sampling graph with the export's weights, so every tfdiffusion export has it,
 * whatever signatures it was written with.
 *
 * <p>Request: {@code {"seed_a": 3, "seed_b": 7, "frames": 8}}, optionally {@code "num_steps"}
 * (default {@value #DEFAULT_STEPS}, at most {@value #MAX_STEPS}), and for class-conditional models
 * {@code "class_label"} (required) and {@code "guidance_scale"} (default: the export's). The two
 * seeds' starting noises are joined by spherical interpolation and each frame is sampled with
 * DPM-Solver++ (second order, diffusers' defaults: {@code sample}'s default sampler), which is
 * deterministic. Answer: {@code {"model_spec": {...}, "sampler": "...", "outputs":
 * {"images_png_bytes": [{"b64": "..."}, ...]}}}, frame 0 seed A's image and the last seed B's; the
 * PNGs have the pixels of {@code sample --out-dir}'s {@code frame-NN.png} files.
 *
 * <p>The sampling graphs of the last {@value #CACHED} (version, steps, frames) asked for are kept;
 * one strip is drawn at a time. Thread-safe.
 */
final class Interpolations implements AutoCloseable {
  /** Steps when the request gives none: {@code sample}'s default for DPM-Solver++. */
  static final int DEFAULT_STEPS = 20;

  /** The most steps a request may ask for. */
  static final int MAX_STEPS = ExportMetadata.MAX_FEW_STEPS;

  /** Sampling graphs kept for later requests. */
  static final int CACHED = 2;

  private static final Set<String> KEYS =
      Set.of("seed_a", "seed_b", "frames", "num_steps", "class_label", "guidance_scale");

  /** A checked request. */
  record Request(
      long seedA, long seedB, int frames, int steps, OptionalInt label, Optional<Float> guidance) {}

  private record Key(Path versionDir, int steps, int frames) {}

  private final Map<Key, ImageSampler> samplers = new LinkedHashMap<>(4, 0.75f, true);
  private boolean closed;

  /**
   * Reads a request body.
   *
   * @param maxFrames the server's {@code --max-batch}
   * @throws ServingException 400 naming the field and the fix
   */
  static Request parse(byte[] body, int maxFrames) {
    JsonNode root = PredictRequest.parseJson(body);
    if (!root.isObject()) {
      throw ServingException.invalid(
          "the request body must be a JSON object such as {\"seed_a\": 3, \"seed_b\": 7,"
              + " \"frames\": 8}, not %s",
          JsonTensors.describe(root));
    }
    for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
      String key = names.next();
      if (!KEYS.contains(key)) {
        throw ServingException.invalid(
            "unknown key \"%s\" in an interpolate request; it takes seed_a, seed_b, frames and"
                + " optionally num_steps, class_label, guidance_scale",
            key);
      }
    }
    long a = seed(root, "seed_a");
    long b = seed(root, "seed_b");
    int frames =
        integer(
                root,
                "frames",
                2,
                maxFrames,
                "(the two seeds' own images included; at most this" + " server's --max-batch)")
            .orElseThrow(
                () ->
                    ServingException.invalid(
                        "\"frames\" is missing: give the number of images of the strip, 2 to %d",
                        maxFrames));
    int steps =
        integer(root, "num_steps", 1, MAX_STEPS, "(DPM-Solver++ steps)").orElse(DEFAULT_STEPS);
    OptionalInt label = integer(root, "class_label", 0, Integer.MAX_VALUE, "");
    Optional<Float> guidance = Optional.empty();
    JsonNode g = root.get("guidance_scale");
    if (g != null) {
      if (!g.isNumber() || !Double.isFinite(g.asDouble())) {
        throw ServingException.invalid(
            "\"guidance_scale\" must be a number such as 3 (0: unconditional, 1: conditional),"
                + " not %s",
            JsonTensors.describe(g));
      }
      guidance = Optional.of((float) g.asDouble());
    }
    return new Request(a, b, frames, steps, label, guidance);
  }

  private static long seed(JsonNode root, String field) {
    JsonNode n = root.get(field);
    if (n == null) {
      throw ServingException.invalid(
          "\"%s\" is missing: an interpolate request needs seed_a and seed_b (whole numbers)",
          field);
    }
    if (!n.isIntegralNumber() || !n.canConvertToLong()) {
      throw ServingException.invalid(
          "\"%s\" must be a whole number in the 64-bit range, such as 3, not %s",
          field, JsonTensors.describe(n));
    }
    return n.longValue();
  }

  private static OptionalInt integer(JsonNode root, String field, int min, int max, String why) {
    JsonNode n = root.get(field);
    if (n == null) {
      return OptionalInt.empty();
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < min || n.intValue() > max) {
      throw ServingException.invalid(
          "\"%s\" must be a whole number from %d%s%s, not %s",
          field,
          min,
          max == Integer.MAX_VALUE ? " up" : " to " + max,
          why.isEmpty() ? "" : " " + why,
          n.isNumber() ? n.asText() : JsonTensors.describe(n));
    }
    return OptionalInt.of(n.intValue());
  }

  /**
   * Draws the strip of {@code request} with the weights of {@code model}'s export.
   *
   * @return the answer's JSON
   * @throws ServingException 404 for a SavedModel that is no tfdiffusion export, 400 for a class
   *     that the model does not have or conditioning asked of an unconditional model
   */
  synchronized byte[] draw(ServableModel model, Request request) {
    if (closed) {
      throw new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down");
    }
    ExportedModel export;
    try {
      export = ExportedModel.open(model.directory());
    } catch (IllegalArgumentException e) {
      throw ServingException.notFound(
          "model %s version %d is no tfdiffusion export (%s): interpolation needs the model's"
              + " tfdiffusion metadata; export it with tfdiffusion export",
          model.name(), model.version(), e.getMessage());
    }
    TrainConfig config = export.config();
    UNetConfig net = config.model();
    int label;
    float guidance;
    if (net.conditional()) {
      label =
          request
              .label()
              .orElseThrow(
                  () ->
                      ServingException.invalid(
                          "model %s is class-conditional: give \"class_label\", 0 to %d (%s)",
                          model.name(),
                          net.numClasses() - 1,
                          String.join(", ", config.conditioning().classNames())));
      if (label >= net.numClasses()) {
        throw ServingException.invalid(
            "\"class_label\" %d is out of range: model %s has classes 0 to %d; for an"
                + " unconditional strip give guidance_scale 0",
            label, model.name(), net.numClasses() - 1);
      }
      guidance = request.guidance().orElse((float) (double) config.conditioning().guidance());
    } else {
      if (request.label().isPresent() || request.guidance().isPresent()) {
        throw ServingException.invalid(
            "model %s is unconditional: drop \"class_label\" and \"guidance_scale\"", model.name());
      }
      label = 0;
      guidance = 0f;
    }
    ImageSampler sampler = sampler(export, request.steps(), request.frames());
    ImageSampler.Images images =
        sampler.interpolate(request.seedA(), request.seedB(), label, guidance, i -> {});
    List<String> pngs = pngs(images.pixels(), request.frames(), net);
    String plan = sampler.plan().name();
    return RestServer.jsonObject(
        g -> {
          g.writeObjectFieldStart("model_spec");
          g.writeStringField("name", model.name());
          g.writeStringField("version", String.valueOf(model.version()));
          g.writeEndObject();
          g.writeStringField("sampler", plan);
          g.writeObjectFieldStart("outputs");
          g.writeArrayFieldStart("images_png_bytes");
          for (String png : pngs) {
            g.writeStartObject();
            g.writeStringField("b64", png);
            g.writeEndObject();
          }
          g.writeEndArray();
          g.writeEndObject();
        });
  }

  /** A sampling graph of the export's weights, kept for the next requests. */
  private ImageSampler sampler(ExportedModel export, int steps, int frames) {
    Key key = new Key(export.versionDir().toAbsolutePath(), steps, frames);
    ImageSampler s = samplers.get(key);
    if (s == null) {
      int timesteps = export.config().noiseSchedule().timesteps();
      if (steps > timesteps) {
        throw ServingException.invalid(
            "\"num_steps\" %d is more than the model's %d training timesteps", steps, timesteps);
      }
      s =
          ImageSampler.openExport(
              export,
              DpmSolverPlusPlusSampler.of(steps),
              EditMode.interpolate(frames),
              false,
              0,
              SessionOptions.sampling());
      samplers.put(key, s);
      while (samplers.size() > CACHED) {
        Iterator<ImageSampler> oldest = samplers.values().iterator();
        oldest.next().close();
        oldest.remove();
      }
    }
    return s;
  }

  /** Each frame as a PNG of the model's size (base64), as {@code sample --out-dir} writes it. */
  private static List<String> pngs(float[] pixels, int frames, UNetConfig net) {
    int s = net.imageSize();
    int c = net.channels();
    int per = s * s * c;
    List<String> out = new ArrayList<>(frames);
    for (int f = 0; f < frames; f++) {
      float[] one = Arrays.copyOfRange(pixels, f * per, (f + 1) * per);
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try {
        ImageIO.write(SampleGrid.single(one, s, s, c, 1).toImage(), "png", bytes);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      out.add(Base64.getEncoder().encodeToString(bytes.toByteArray()));
    }
    return out;
  }

  @Override
  public synchronized void close() {
    closed = true;
    samplers.values().forEach(ImageSampler::close);
    samplers.clear();
  }
}
