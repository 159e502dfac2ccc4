package org.tfdiffusion.export.serving;

import java.util.Map;

/**
 * The answer to a {@code :predict} request, in the request's format (TensorFlow Serving's rules):
 *
 * <ul>
 *   <li>row format: {@code {"predictions": [row, ...]}}, each row an object of output name → that
 *       row of the output, or just that row's value when the signature has one output;
 *   <li>columnar: {@code {"outputs": {name: tensor, ...}}}, or {@code {"outputs": tensor}} for a
 *       single output.
 * </ul>
 *
 * String outputs whose name ends in {@code _bytes} are written as {@code {"b64": "..."}}.
 */
final class PredictResponse {
  private PredictResponse() {}

  static byte[] write(PredictRequest.Format format, Map<String, HostTensor> outputs) {
    if (format == PredictRequest.Format.ROW) {
      long batch = -1;
      String first = null;
      for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
        long b = e.getValue().batch();
        if (b < 0) {
          throw ServingException.invalid(
              "output '%s' is a scalar, which the row format cannot carry; send the request"
                  + " with \"inputs\" (columnar format)",
              e.getKey());
        }
        if (first == null) {
          first = e.getKey();
          batch = b;
        } else if (b != batch) {
          throw ServingException.invalid(
              "outputs have different batch sizes ('%s' %d, '%s' %d), which the row format cannot"
                  + " carry; send the request with \"inputs\" (columnar format)",
              first, batch, e.getKey(), b);
        }
      }
      long rows = batch;
      return RestServer.json(
          g -> {
            g.writeStartObject();
            g.writeArrayFieldStart("predictions");
            for (int r = 0; r < rows; r++) {
              if (outputs.size() == 1) {
                Map.Entry<String, HostTensor> only = outputs.entrySet().iterator().next();
                JsonTensors.write(g, only.getValue(), r, isBytes(only.getKey()));
                continue;
              }
              g.writeStartObject();
              for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
                g.writeFieldName(e.getKey());
                JsonTensors.write(g, e.getValue(), r, isBytes(e.getKey()));
              }
              g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
          });
    }
    return RestServer.json(
        g -> {
          g.writeStartObject();
          g.writeFieldName("outputs");
          if (outputs.size() == 1) {
            Map.Entry<String, HostTensor> only = outputs.entrySet().iterator().next();
            JsonTensors.write(g, only.getValue(), -1, isBytes(only.getKey()));
          } else {
            g.writeStartObject();
            for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
              g.writeFieldName(e.getKey());
              JsonTensors.write(g, e.getValue(), -1, isBytes(e.getKey()));
            }
            g.writeEndObject();
          }
          g.writeEndObject();
        });
  }

  private static boolean isBytes(String name) {
    return name.endsWith(JsonTensors.BYTES_SUFFIX);
  }
}
