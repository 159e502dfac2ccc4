package org.tfdiffusion.export.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.DataType;

/** Request and response JSON without a model. */
class JsonTensorsTest {
  static final ObjectMapper JSON = new ObjectMapper();

  static JsonNode json(String s) throws Exception {
    return JSON.readTree(s);
  }

  @Test
  void shapesComeFromTheNesting() throws Exception {
    HostTensor t = JsonTensors.parse("x", json("[[1, 2, 3], [4, 5, 6]]"), DataType.DT_FLOAT);
    assertThat(t.shape()).containsExactly(2, 3);
    assertThat(t.floats()).containsExactly(1, 2, 3, 4, 5, 6);
    HostTensor scalar = JsonTensors.parse("n", json("7"), DataType.DT_INT32);
    assertThat(scalar.shape()).isEmpty();
    assertThat((int[]) scalar.values()).containsExactly(7);
    HostTensor big = JsonTensors.parse("s", json("[9007199254740993]"), DataType.DT_INT64);
    assertThat((long[]) big.values()).containsExactly(9007199254740993L);
  }

  @Test
  void raggedListsAndWrongTypesAreRefusedWithTheirPlace() {
    assertThatThrownBy(() -> JsonTensors.parse("x", json("[[1, 2], [3]]"), DataType.DT_FLOAT))
        .isInstanceOf(ServingException.class)
        .hasMessageContaining("not rectangular")
        .hasMessageContaining("[1]");
    assertThatThrownBy(() -> JsonTensors.parse("x", json("[[1, 2], 3]"), DataType.DT_FLOAT))
        .hasMessageContaining("not rectangular");
    assertThatThrownBy(() -> JsonTensors.parse("x", json("[[1, 2], [3, true]]"), DataType.DT_FLOAT))
        .hasMessageContaining("x[1][1] is a boolean (true); DT_FLOAT needs a number");
    assertThatThrownBy(() -> JsonTensors.parse("seed", json("[1, 2.5]"), DataType.DT_INT64))
        .hasMessageContaining("seed[1] is a number (2.5); DT_INT64 needs an integer");
    assertThatThrownBy(() -> JsonTensors.parse("seed", json("[1, null]"), DataType.DT_INT64))
        .hasMessageContaining("seed[1] is null");
    assertThatThrownBy(() -> JsonTensors.parse("p", json("[256]"), DataType.DT_UINT8))
        .hasMessageContaining("out of range for DT_UINT8 [0, 255]");
    assertThatThrownBy(() -> JsonTensors.parse("c", json("{\"b64\": \"@@\"}"), DataType.DT_STRING))
        .hasMessageContaining("not valid base64");
  }

  @Test
  void stringsAreUtf8OrBase64() throws Exception {
    HostTensor t =
        JsonTensors.parse("s", json("[\"héllo\", {\"b64\": \"AAEC\"}]"), DataType.DT_STRING);
    assertThat(t.strings()[0]).isEqualTo("héllo".getBytes(StandardCharsets.UTF_8));
    assertThat(t.strings()[1]).containsExactly(0, 1, 2);
  }

  @Test
  void responsesFollowTheRequestFormat() throws Exception {
    HostTensor images =
        new HostTensor(DataType.DT_FLOAT, new long[] {2, 1, 2}, new float[] {0.5f, 0.25f, 1, 0});
    HostTensor png = new HostTensor(DataType.DT_STRING, new long[] {2}, new byte[][] {{1, 2}, {3}});
    Map<String, HostTensor> two = new java.util.LinkedHashMap<>();
    two.put("images", images);
    two.put("images_png_bytes", png);
    assertThat(json(new String(PredictResponse.write(PredictRequest.Format.ROW, two))))
        .isEqualTo(
            json(
                "{\"predictions\": [{\"images\": [[0.5, 0.25]], \"images_png_bytes\": {\"b64\":"
                    + " \"AQI=\"}}, {\"images\": [[1.0, 0.0]], \"images_png_bytes\": {\"b64\":"
                    + " \"Aw==\"}}]}"));
    assertThat(json(new String(PredictResponse.write(PredictRequest.Format.COLUMNAR, two))))
        .isEqualTo(
            json(
                "{\"outputs\": {\"images\": [[[0.5, 0.25]], [[1.0, 0.0]]], \"images_png_bytes\":"
                    + " [{\"b64\": \"AQI=\"}, {\"b64\": \"Aw==\"}]}}"));
    Map<String, HostTensor> one = Map.of("eps", images);
    assertThat(json(new String(PredictResponse.write(PredictRequest.Format.ROW, one))))
        .isEqualTo(json("{\"predictions\": [[[0.5, 0.25]], [[1.0, 0.0]]]}"));
    assertThat(json(new String(PredictResponse.write(PredictRequest.Format.COLUMNAR, one))))
        .isEqualTo(json("{\"outputs\": [[[0.5, 0.25]], [[1.0, 0.0]]]}"));
  }

  @Test
  void aSingleInputSignatureTakesPlainValuesInBothFormats() throws Exception {
    SignatureSpec one =
        new SignatureSpec(
            "s",
            ServableModel.PREDICT_METHOD,
            new java.util.TreeMap<>(
                Map.of("x", new TensorSpec("x", DataType.DT_STRING, List.of(-1L), false, "x:0"))),
            new java.util.TreeMap<>());
    Map<String, HostTensor> rows =
        PredictRequest.parse("{\"instances\": [{\"b64\": \"AA==\"}, \"a\"]}".getBytes())
            .inputs(one, 8);
    assertThat(rows.get("x").shape()).containsExactly(2);
    assertThat(rows.get("x").strings()[0]).containsExactly(0);
    Map<String, HostTensor> named =
        PredictRequest.parse("{\"instances\": [{\"x\": \"a\"}]}".getBytes()).inputs(one, 8);
    assertThat(named.get("x").strings()[0]).containsExactly('a');
    Map<String, HostTensor> columns =
        PredictRequest.parse("{\"inputs\": [\"a\", \"b\"]}".getBytes()).inputs(one, 8);
    assertThat(columns.get("x").shape()).containsExactly(2);
  }
}
