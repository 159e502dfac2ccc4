package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TensorFlowException;
import org.tfdiffusion.export.ModelExporter;

/**
 * One loaded version of a model: its SavedModel (tag {@code serve}), its signatures and its
 * tfdiffusion metadata. {@link #predict} may run from many threads at once ({@code Session.run} is
 * thread-safe). Users {@link #acquire} and {@link #release} it around each request, so a version
 * that is retired (its folder deleted, or the server closing) is closed only once the last request
 * using it is done.
 */
public final class ServableModel {
  /** The method name of signatures that {@code :predict} runs. */
  public static final String PREDICT_METHOD = ModelExporter.PREDICT;

  private final String name;
  private final long version;
  private final Path dir;
  private final SavedModelBundle bundle;
  private final SortedMap<String, SignatureSpec> signatures;
  private final Optional<JsonNode> metadata;
  private int users;
  private boolean retired;
  private boolean closed;

  private ServableModel(
      String name,
      long version,
      Path dir,
      SavedModelBundle bundle,
      SortedMap<String, SignatureSpec> signatures,
      Optional<JsonNode> metadata) {
    this.name = name;
    this.version = version;
    this.dir = dir;
    this.bundle = bundle;
    this.signatures = signatures;
    this.metadata = metadata;
  }

  /** Loads the SavedModel in {@code dir}. */
  public static ServableModel load(String name, long version, Path dir) {
    SavedModelBundle bundle = SavedModelBundle.load(dir.toString(), SavedModelBundle.DEFAULT_TAG);
    try {
      SortedMap<String, SignatureSpec> signatures = new TreeMap<>();
      bundle
          .metaGraphDef()
          .getSignatureDefMap()
          .forEach((key, def) -> signatures.put(key, SignatureSpec.of(key, def)));
      return new ServableModel(
          name,
          version,
          dir,
          bundle,
          Collections.unmodifiableSortedMap(signatures),
          ModelListing.readMetadata(dir));
    } catch (RuntimeException e) {
      bundle.close();
      throw e;
    }
  }

  public String name() {
    return name;
  }

  public long version() {
    return version;
  }

  public Path directory() {
    return dir;
  }

  /** Every signature of the SavedModel, by key. */
  public SortedMap<String, SignatureSpec> signatures() {
    return signatures;
  }

  /** The contents of {@code assets.extra/tfdiffusion.json}, when the export wrote one. */
  public Optional<JsonNode> metadata() {
    return metadata;
  }

  /** The loaded bundle (for in-process comparisons; do not close it). */
  public SavedModelBundle bundle() {
    return bundle;
  }

  /**
   * The signature a predict request names, or {@code serving_default}.
   *
   * @throws ServingException 404 for an unknown signature, 400 for one {@code :predict} cannot run
   */
  public SignatureSpec predictSignature(Optional<String> key) {
    String k = key.filter(s -> !s.isEmpty()).orElse(SignatureSpec.DEFAULT_KEY);
    SignatureSpec s = signatures.get(k);
    if (s == null) {
      throw ServingException.notFound(
          "Serving signature name: \"%s\" not found in signature def; model %s version %d has %s",
          k, name, version, String.join(", ", predictable()));
    }
    if (!PREDICT_METHOD.equals(s.methodName())) {
      throw ServingException.invalid(
          "signature '%s' has method_name '%s'; :predict runs %s signatures (%s)",
          k, s.methodName(), PREDICT_METHOD, String.join(", ", predictable()));
    }
    return s;
  }

  private List<String> predictable() {
    return signatures.values().stream()
        .filter(s -> PREDICT_METHOD.equals(s.methodName()))
        .map(SignatureSpec::key)
        .toList();
  }

  /**
   * Runs a signature. Every input and output tensor is closed before this returns, whatever
   * happens.
   *
   * @param inputs checked values for every input of {@code signature}
   * @return every output, by name
   * @throws ServingException with the code of a TensorFlow error (400 for a failed assertion)
   */
  public Map<String, HostTensor> predict(SignatureSpec signature, Map<String, HostTensor> inputs) {
    SessionFunction function = bundle.function(signature.key());
    List<Tensor> fed = new ArrayList<>(inputs.size());
    try {
      Map<String, Tensor> feeds = new LinkedHashMap<>();
      for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
        Tensor t = e.getValue().toTensor();
        fed.add(t);
        feeds.put(e.getKey(), t);
      }
      try (Result result = function.call(feeds)) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (String output : signature.outputs().keySet()) {
          Tensor t =
              result
                  .get(output)
                  .orElseThrow(() -> new IllegalStateException("no output " + output));
          out.put(output, HostTensor.of(t));
        }
        return out;
      }
    } catch (RuntimeException e) {
      if (isTensorFlowError(e)) {
        throw new ServingException(ErrorCode.of(e), tensorFlowMessage(e));
      }
      throw e;
    } finally {
      for (Tensor t : fed) {
        t.close();
      }
    }
  }

  /**
   * Whether an exception is a TensorFlow status (TF Java's {@code TFInvalidArgumentException} and
   * friends share a package, not a superclass).
   */
  static boolean isTensorFlowError(RuntimeException e) {
    return e.getClass().getPackageName().equals(TensorFlowException.class.getPackageName());
  }

  /**
   * A TensorFlow error's message without the graph-node annotations that follow it, e.g. {@code
   * assertion failed: [class_label must be in [0, 9] (or 10 for unconditional)]}.
   */
  static String tensorFlowMessage(RuntimeException e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int node = m.indexOf("\n\t [[");
    if (node < 0) {
      node = m.indexOf("\n\t[[");
    }
    if (node >= 0) {
      m = m.substring(0, node);
    }
    return m.strip();
  }

  /** Registers a request using this version; false if it is already closed. */
  synchronized boolean acquire() {
    if (closed) {
      return false;
    }
    users++;
    return true;
  }

  /** Ends a request; closes the version if it was retired and this was its last user. */
  public synchronized void release() {
    users--;
    if (retired && users == 0) {
      closeNow();
    }
  }

  /** No new requests; closes now, or when the last current request ends. */
  synchronized void retire() {
    retired = true;
    if (users == 0) {
      closeNow();
    }
  }

  synchronized boolean isClosed() {
    return closed;
  }

  private void closeNow() {
    if (!closed) {
      closed = true;
      bundle.close();
    }
  }

  @Override
  public String toString() {
    return name + " version " + version + " (" + dir + ")";
  }
}
