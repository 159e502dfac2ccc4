package org.tfdiffusion.export.serving;

import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.SavedModel;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.run.ExportMetadata;

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

  /** The SavedModel's graph and signatures, in binary form. */
  public static final String SAVED_MODEL_PB = "saved_model.pb";

  /** The same in text form. */
  public static final String SAVED_MODEL_PBTXT = "saved_model.pbtxt";

  /** The edit signatures of a tfdiffusion export, which an export may lack. */
  private static final java.util.Set<String> EDIT_SIGNATURES =
      java.util.Set.of(ModelExporter.IMG2IMG, ModelExporter.INPAINT, ModelExporter.INPAINT_REPAINT);

  /** The checkpoint index TensorFlow restores the variables from. */
  static final String VARIABLES_INDEX = "variables/variables.index";

  /** A shard of the checkpoint's data: {@code variables.data-00000-of-00001}. */
  private static final Pattern DATA_SHARD =
      Pattern.compile("variables\\.data-([0-9]{5})-of-([0-9]{5})");

  /** The ops that hold variables, whose values a SavedModel's checkpoint must restore. */
  private static final Set<String> VARIABLE_OPS = Set.of("VariableV2", "Variable", "VarHandleOp");

  /** How often a version without tfdiffusion.json looks for it again (it may be copied last). */
  private static final long METADATA_RECHECK_NANOS = 2_000_000_000L;

  private final String name;
  private final long version;
  private final Path dir;
  private final SavedModelBundle bundle;
  private final SortedMap<String, SignatureSpec> signatures;
  private volatile Optional<ExportMetadata> metadata;
  private volatile long metadataCheckedNanos = System.nanoTime();
  private int users;
  private boolean retired;
  private boolean closed;

  private ServableModel(
      String name,
      long version,
      Path dir,
      SavedModelBundle bundle,
      SortedMap<String, SignatureSpec> signatures,
      Optional<ExportMetadata> metadata) {
    this.name = name;
    this.version = version;
    this.dir = dir;
    this.bundle = bundle;
    this.signatures = signatures;
    this.metadata = metadata;
  }

  /**
   * Loads the SavedModel in {@code dir}, once its files are complete: a {@code saved_model.pb} that
   * parses and, when its graph holds variables, the checkpoint index and every data shard
   * (TensorFlow itself would load a graph whose {@code variables/} is missing with uninitialised
   * weights). TensorFlow then restores the variables, failing on a truncated shard.
   *
   * @throws ServingException with the code of what is missing or damaged (NOT_FOUND, DATA_LOSS)
   * @throws RuntimeException a TensorFlow error of the load itself
   */
  public static ServableModel load(String name, long version, Path dir) {
    checkComplete(dir);
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
          ExportMetadata.find(dir));
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

  /**
   * The contents of {@code assets.extra/tfdiffusion.json}, when the export wrote one (looked for
   * again every few seconds while it is missing: a copy may write it after the model loaded).
   */
  public Optional<ExportMetadata> metadata() {
    Optional<ExportMetadata> m = metadata;
    if (m.isEmpty() && System.nanoTime() - metadataCheckedNanos > METADATA_RECHECK_NANOS) {
      metadataCheckedNanos = System.nanoTime();
      m = ExportMetadata.find(dir);
      metadata = m;
    }
    return m;
  }

  /**
   * Checks that a version folder holds a complete SavedModel (see {@link #load}).
   *
   * @throws ServingException NOT_FOUND for a missing file, DATA_LOSS for a damaged {@code
   *     saved_model.pb}
   */
  static void checkComplete(Path dir) {
    Path pb = dir.resolve(SAVED_MODEL_PB);
    if (!Files.isRegularFile(pb)) {
      return; // saved_model.pbtxt: TensorFlow checks it
    }
    SavedModel saved;
    try (InputStream in = Files.newInputStream(pb)) {
      saved = SavedModel.parseFrom(in);
    } catch (InvalidProtocolBufferException e) {
      throw new ServingException(
          ErrorCode.DATA_LOSS,
          SAVED_MODEL_PB
              + " cannot be read ("
              + e.getMessage()
              + "); it is damaged or still being"
              + " copied");
    } catch (IOException e) {
      throw new ServingException(
          ErrorCode.NOT_FOUND, SAVED_MODEL_PB + " cannot be read: " + e.getMessage());
    }
    boolean variables = false;
    for (MetaGraphDef meta : saved.getMetaGraphsList()) {
      if (meta.getMetaInfoDef().getTagsList().contains(SavedModelBundle.DEFAULT_TAG)) {
        for (NodeDef node : meta.getGraphDef().getNodeList()) {
          variables |= VARIABLE_OPS.contains(node.getOp());
        }
      }
    }
    if (!variables) {
      return;
    }
    if (!Files.isRegularFile(dir.resolve(VARIABLES_INDEX))) {
      throw new ServingException(
          ErrorCode.NOT_FOUND,
          VARIABLES_INDEX
              + " is missing, but the graph has variables: the version's files are"
              + " incomplete (still being copied?)");
    }
    int shards = -1;
    List<Integer> present = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir.resolve("variables"))) {
      for (Path f : files.toList()) {
        Matcher m = DATA_SHARD.matcher(f.getFileName().toString());
        if (m.matches() && Files.isRegularFile(f)) {
          present.add(Integer.parseInt(m.group(1)));
          shards = Integer.parseInt(m.group(2));
        }
      }
    } catch (IOException e) {
      throw new ServingException(ErrorCode.NOT_FOUND, "cannot list variables/: " + e.getMessage());
    }
    if (shards < 0) {
      throw new ServingException(
          ErrorCode.NOT_FOUND,
          "variables/ has no variables.data-* file: the version's files are incomplete (still"
              + " being copied?)");
    }
    for (int i = 0; i < shards; i++) {
      if (!present.contains(i)) {
        throw new ServingException(
            ErrorCode.NOT_FOUND,
            String.format(
                "variables/variables.data-%05d-of-%05d is missing: the version's files are"
                    + " incomplete (still being copied?)",
                i, shards));
      }
    }
  }

  /** The status code of a failed {@link #load}, as model status reports it. */
  static ErrorCode loadErrorCode(RuntimeException e) {
    if (e instanceof ServingException s) {
      return s.code();
    }
    if (e instanceof TFOutOfRangeException) {
      return ErrorCode.DATA_LOSS; // a truncated file: "Read less bytes than requested"
    }
    if (isTensorFlowError(e)) {
      ErrorCode code = ErrorCode.of(e);
      String m = String.valueOf(e.getMessage());
      return code == ErrorCode.UNKNOWN && m.contains("No such file or directory")
          ? ErrorCode.NOT_FOUND
          : code;
    }
    return ErrorCode.UNKNOWN;
  }

  /** The one-line message of a failed {@link #load}. */
  static String loadErrorMessage(RuntimeException e) {
    if (e instanceof ServingException) {
      return e.getMessage();
    }
    String m = isTensorFlowError(e) ? tensorFlowMessage(e) : String.valueOf(e.getMessage());
    if (e instanceof TFOutOfRangeException) {
      m += " (a file of the version is truncated: still being copied?)";
    }
    return m.lines().findFirst().orElse(e.getClass().getSimpleName());
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
      boolean edit = EDIT_SIGNATURES.contains(k) && metadata().isPresent();
      throw ServingException.notFound(
          "Serving signature name: \"%s\" not found in signature def; model %s version %d has"
              + " %s%s",
          k,
          name,
          version,
          String.join(", ", predictable()),
          edit ? " (export the run again with tfdiffusion export to add " + k + ")" : "");
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
