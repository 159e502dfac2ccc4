package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The bodies of TensorFlow Serving's REST model status ({@code GET /v1/models/NAME[/versions/N]})
 * and metadata ({@code .../metadata}) answers, with its field names and its habit of writing
 * numbers (versions, dimensions) as strings.
 */
final class ModelStatusJson {
  private ModelStatusJson() {}

  /** {@code {"model_version_status": [{"version", "state", "status": {...}}, ...]}}. */
  static byte[] status(ModelRegistry registry, String name, OptionalLong version) {
    List<ModelRegistry.VersionStatus> statuses = registry.status(name, version);
    return RestServer.json(
        g -> {
          g.writeStartObject();
          g.writeArrayFieldStart("model_version_status");
          for (ModelRegistry.VersionStatus s : statuses) {
            g.writeStartObject();
            g.writeStringField("version", String.valueOf(s.version()));
            g.writeStringField("state", s.state().name());
            g.writeObjectFieldStart("status");
            g.writeStringField("error_code", s.code().name());
            g.writeStringField("error_message", s.message());
            g.writeEndObject();
            g.writeEndObject();
          }
          g.writeEndArray();
          g.writeEndObject();
        });
  }

  /** {@code {"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {...}}}}}. */
  static byte[] metadata(
      ModelRegistry registry, String name, OptionalLong version, RequestFacts facts) {
    ServableModel model = registry.acquire(name, version);
    facts.version(model.version());
    try {
      return RestServer.json(
          g -> {
            g.writeStartObject();
            g.writeObjectFieldStart("model_spec");
            g.writeStringField("name", model.name());
            g.writeStringField("signature_name", "");
            g.writeStringField("version", String.valueOf(model.version()));
            g.writeEndObject();
            g.writeObjectFieldStart("metadata");
            g.writeObjectFieldStart("signature_def");
            g.writeObjectFieldStart("signature_def");
            for (SignatureSpec s : model.signatures().values()) {
              g.writeObjectFieldStart(s.key());
              writeTensorInfos(g, "inputs", s.inputs());
              writeTensorInfos(g, "outputs", s.outputs());
              g.writeStringField("method_name", s.methodName());
              g.writeEndObject();
            }
            g.writeEndObject();
            g.writeEndObject();
            g.writeEndObject();
            g.writeEndObject();
          });
    } finally {
      model.release();
    }
  }

  private static void writeTensorInfos(JsonGenerator g, String field, Map<String, TensorSpec> specs)
      throws IOException {
    g.writeObjectFieldStart(field);
    for (TensorSpec t : specs.values()) {
      g.writeObjectFieldStart(t.alias());
      g.writeStringField("dtype", t.dtype().name());
      g.writeObjectFieldStart("tensor_shape");
      g.writeArrayFieldStart("dim");
      if (!t.unknownRank()) {
        for (long d : t.dims()) {
          g.writeStartObject();
          g.writeStringField("size", String.valueOf(d));
          g.writeStringField("name", "");
          g.writeEndObject();
        }
      }
      g.writeEndArray();
      g.writeBooleanField("unknown_rank", t.unknownRank());
      g.writeEndObject();
      g.writeStringField("name", t.tensorName());
      g.writeEndObject();
    }
    g.writeEndObject();
  }
}
