package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.tfdiffusion.export.ModelExporter;

/**
 * {@code GET /v1/models}: a read-only extension to TensorFlow Serving's REST API, which has no
 * model list, used by the web page. It lists every model under the base path with its versions
 * (newest first) and what each version's {@code assets.extra/tfdiffusion.json} says, without
 * loading any:
 *
 * <pre>
 * {"max_batch": 64,
 *  "models": [{"name": "demo", "default_version": 2,
 *              "versions": [{"version": 2, "state": "AVAILABLE", "loaded": false, "error": "",
 *                            "sampler": "dpm-solver++(...)", "sampler_kind": "dpmpp",
 *                            "steps": 20, "max_steps": 100, "conditional": true,
 *                            "num_classes": 10, "class_names": ["T-shirt/top", ...],
 *                            "default_guidance": 3.0, "image_shape": [28, 28, 1],
 *                            "training_step": 600, "exported_at": "...", "run": "..."}, ...]}]}
 * </pre>
 *
 * A version without tfdiffusion.json (a SavedModel from elsewhere) lists only its version, state
 * and {@code "tfdiffusion": false}; its signatures are at {@code /v1/models/NAME/metadata}. The
 * default version is the one {@code :predict} picks now (see {@link ModelRegistry#defaultVersion});
 * a version's state is LOADING while it loads or waits to retry a failed load, END once it failed
 * for good, with the error of its last attempt.
 */
public final class ModelListing {
  private ModelListing() {}

  /** The listing's JSON. */
  static byte[] write(ModelRegistry registry, int maxBatch) {
    return RestServer.json(
        g -> {
          g.writeStartObject();
          g.writeNumberField("max_batch", maxBatch);
          g.writeArrayFieldStart("models");
          for (String name : registry.modelNames()) {
            List<ModelRegistry.VersionEntry> versions = registry.entries(name);
            if (versions.isEmpty()) {
              continue;
            }
            g.writeStartObject();
            g.writeStringField("name", name);
            g.writeNumberField(
                "default_version", registry.defaultVersion(name).orElse(versions.get(0).version()));
            g.writeArrayFieldStart("versions");
            for (ModelRegistry.VersionEntry v : versions) {
              writeVersion(g, v);
            }
            g.writeEndArray();
            g.writeEndObject();
          }
          g.writeEndArray();
          g.writeEndObject();
        });
  }

  private static void writeVersion(JsonGenerator g, ModelRegistry.VersionEntry v)
      throws IOException {
    g.writeStartObject();
    g.writeNumberField("version", v.version());
    g.writeStringField("state", v.state().name());
    g.writeBooleanField("loaded", v.loaded());
    g.writeStringField("error", v.failure().orElse(""));
    Optional<JsonNode> meta = readMetadata(v.directory());
    g.writeBooleanField("tfdiffusion", meta.isPresent());
    if (meta.isPresent()) {
      JsonNode m = meta.get();
      JsonNode config = m.path("config");
      String sampler = m.path("sampler").asText("");
      String kind = m.path("sampler_kind").asText(kindOf(sampler));
      int timesteps = config.path("schedule").path("timesteps").asInt(ModelExporter.MAX_STEPS);
      int numClasses = config.path("model").path("numClasses").asInt(0);
      g.writeStringField("sampler", sampler);
      g.writeStringField("sampler_kind", kind);
      g.writeNumberField("steps", m.path("steps").asInt(0));
      g.writeNumberField("max_steps", m.path("max_steps").asInt(maxSteps(kind, timesteps)));
      g.writeBooleanField("conditional", numClasses > 0);
      g.writeNumberField("num_classes", numClasses);
      g.writeArrayFieldStart("class_names");
      for (JsonNode c : m.path("class_names")) {
        g.writeString(c.asText());
      }
      g.writeEndArray();
      g.writeNumberField("default_guidance", m.path("default_guidance").asDouble(1.0));
      g.writeArrayFieldStart("image_shape");
      for (JsonNode d : m.path("image_shape")) {
        g.writeNumber(d.asInt());
      }
      g.writeEndArray();
      g.writeNumberField("training_step", m.path("training_step").asLong(0));
      g.writeStringField("weights", m.path("weights").asText(""));
      g.writeStringField("exported_at", m.path("exported_at").asText(""));
      g.writeStringField("run", m.path("run").asText(""));
    }
    g.writeEndObject();
  }

  /** The export's step limit by its kind (an unknown kind: the timesteps, up to MAX_STEPS). */
  private static int maxSteps(String kind, int timesteps) {
    try {
      return ModelExporter.maxSampleSteps(
          org.tfdiffusion.sampling.SamplerKind.lookup(kind), timesteps);
    } catch (IllegalArgumentException unknown) {
      return Math.min(ModelExporter.MAX_STEPS, timesteps);
    }
  }

  /** The sampler kind from an older export's sampler description, e.g. "dpm-solver++(...)". */
  private static String kindOf(String sampler) {
    String s = sampler.toLowerCase(Locale.ROOT);
    if (s.startsWith("dpm")) {
      return "dpmpp";
    }
    return s.startsWith("ddim") ? "ddim" : s.startsWith("ddpm") ? "ddpm" : "";
  }

  /** The contents of a version's {@code assets.extra/tfdiffusion.json}, when it has a valid one. */
  public static Optional<JsonNode> readMetadata(Path versionDir) {
    Path file = versionDir.resolve("assets.extra").resolve(ModelExporter.METADATA);
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(PredictRequest.MAPPER.readTree(file.toFile()));
    } catch (IOException e) {
      return Optional.empty();
    }
  }
}
