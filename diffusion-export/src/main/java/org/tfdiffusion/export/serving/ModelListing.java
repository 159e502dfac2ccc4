package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.tfdiffusion.run.ExportMetadata;

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
final class ModelListing {
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
    Optional<ExportMetadata> meta = ExportMetadata.find(v.directory());
    g.writeBooleanField("tfdiffusion", meta.isPresent());
    if (meta.isPresent()) {
      ExportMetadata m = meta.get();
      g.writeStringField("sampler", m.sampler());
      g.writeStringField("sampler_kind", m.samplerKindName());
      g.writeNumberField("steps", m.steps());
      g.writeNumberField("max_steps", m.maxSteps());
      g.writeBooleanField("conditional", m.conditional());
      g.writeNumberField("num_classes", m.config().model().numClasses());
      g.writeArrayFieldStart("class_names");
      for (String c : m.classNames()) {
        g.writeString(c);
      }
      g.writeEndArray();
      g.writeNumberField("default_guidance", m.defaultGuidance());
      g.writeArrayFieldStart("image_shape");
      for (int d : m.imageShape()) {
        g.writeNumber(d);
      }
      g.writeEndArray();
      g.writeNumberField("training_step", m.trainingStep());
      g.writeStringField("weights", m.weightsName());
      g.writeStringField("exported_at", m.exportedAt());
      g.writeStringField("run", m.run());
    }
    g.writeEndObject();
  }
}
