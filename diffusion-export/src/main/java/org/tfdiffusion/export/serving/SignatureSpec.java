package org.tfdiffusion.export.serving;

import static java.util.Objects.requireNonNull;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;

/**
 * A signature of a loaded model: its inputs and outputs by alias, sorted by name (the order of
 * TensorFlow Serving's JSON, whose maps iterate in key order).
 *
 * @param key the signature's key, e.g. {@code serving_default}
 * @param methodName e.g. {@code tensorflow/serving/predict}; empty when the export set none
 * @param inputs the inputs by alias
 * @param outputs the outputs by alias
 */
public record SignatureSpec(
    String key,
    String methodName,
    SortedMap<String, TensorSpec> inputs,
    SortedMap<String, TensorSpec> outputs) {
  /** The signature a request names when it names none. */
  public static final String DEFAULT_KEY = "serving_default";

  public SignatureSpec {
    requireNonNull(key, "key");
    requireNonNull(methodName, "methodName");
    inputs = Collections.unmodifiableSortedMap(new TreeMap<>(inputs));
    outputs = Collections.unmodifiableSortedMap(new TreeMap<>(outputs));
  }

  /** The spec of {@code def}, stored under {@code key}. */
  public static SignatureSpec of(String key, SignatureDef def) {
    return new SignatureSpec(
        key, def.getMethodName(), specs(def.getInputsMap()), specs(def.getOutputsMap()));
  }

  private static SortedMap<String, TensorSpec> specs(Map<String, TensorInfo> infos) {
    SortedMap<String, TensorSpec> specs = new TreeMap<>();
    infos.forEach((alias, info) -> specs.put(alias, TensorSpec.of(alias, info)));
    return specs;
  }
}
