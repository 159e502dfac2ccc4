package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.regex.Pattern;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.nn.ParameterSpec;

/**
 * A trained model loaded from a run: its config, and a graph holding one set of its weights (the
 * EMA weights by default, or the raw ones) restored from a checkpoint, or from an export's
 * variables (which hold the one set the export was made with). Samplers, exports and evaluations
 * build on its graph and session.
 */
public final class TrainedModel implements AutoCloseable {
  /**
   * Which weights of a checkpoint to use: {@code ema} or {@code raw} on command lines and in
   * config.json.
   */
  public enum Weights implements Named {
    /** The exponential moving average (the default for samples and exports). */
    EMA("ema", "ema/"),
    /** The optimizer's current weights. */
    RAW("raw", "");

    private final String configName;
    private final String prefix;

    Weights(String configName, String prefix) {
      this.configName = configName;
      this.prefix = prefix;
    }

    @Override
    public List<String> names() {
      return List.of(configName);
    }

    /** The name config.json and command lines write: {@code ema} or {@code raw}. */
    @Override
    @JsonValue
    public String configName() {
      return configName;
    }

    /**
     * The weights named {@code ema} or {@code raw} (any case, surrounding blanks ignored).
     *
     * @param option what named them, for the error (e.g. {@code --weights})
     * @throws IllegalArgumentException naming the option and the valid names
     */
    public static Weights parse(String value, String option) {
      return Named.lookup(Weights.class, option, value);
    }

    /** The weights named in config.json. */
    @JsonCreator
    static Weights fromConfig(String value) {
      return parse(value, "fine-tuning weights");
    }

    /** The checkpoint variable name of a weight. */
    public String variableName(String weight) {
      return prefix + weight;
    }
  }

  /** TensorFlow's words for checkpoint files that are damaged or missing (not a mismatch). */
  private static final Pattern DAMAGED =
      Pattern.compile(
          "(?i)checksum|data ?loss|corrupt|truncat|read less bytes|failed to find any matching"
              + " files|unable to open table|not an sstable|bad magic");

  private final TrainConfig config;
  private final Optional<Checkpoints.Checkpoint> checkpoint;
  private final long step;
  private final String origin;
  private final Weights which;
  private final Graph graph;
  private final Ops tf;
  private final Map<String, Variable<TFloat32>> weights;
  private final Session session;

  private TrainedModel(
      TrainConfig config,
      Optional<Checkpoints.Checkpoint> checkpoint,
      String variablesPrefix,
      long step,
      String origin,
      Weights which,
      SessionOptions options,
      java.util.function.Consumer<TrainedModel> build) {
    this.config = config;
    this.checkpoint = checkpoint;
    this.step = step;
    this.origin = origin;
    // an EMA of decay 0 is the weights themselves; such runs keep no ema/ copy
    this.which = which == Weights.EMA && !config.ema().keepsShadows() ? Weights.RAW : which;
    this.graph = new Graph();
    this.tf = Ops.create(graph);
    this.weights = new LinkedHashMap<>();
    // one sub-scope object for the prefix: TensorFlow Java renames a repeated sub-scope
    Ops scope = this.which == Weights.EMA ? tf.withSubScope("ema") : tf;
    for (ParameterSpec spec : new UNet(config.model()).parameterSpecs()) {
      weights.put(spec.name(), scope.withName(spec.name()).variable(spec.shape(), TFloat32.class));
    }
    // The weights are read on a thread of their own while the caller builds its ops on this one:
    // for the tutorial's model (81 M weights) each takes about a second on one core. The session
    // extends its graph by the ops added since its last run, so the restore runs on the variables
    // and their restore ops alone.
    Placeholder<TString> prefix = tf.withName("restore_weights_prefix").placeholder(TString.class);
    Op restore = restoreOp(prefix);
    this.session = new Session(graph, false, options.toConfigProto());
    FutureTask<Void> restoring =
        new FutureTask<>(
            () -> {
              try (TString path = TString.scalarOf(variablesPrefix);
                  Result none = session.runner().feed(prefix, path).addTarget(restore).run()) {
                // no fetches: the assignments are the result
              }
            },
            null);
    Thread reader = new Thread(restoring, "tfdiffusion-restore");
    reader.setDaemon(true);
    reader.start();
    try {
      build.accept(this);
    } catch (RuntimeException | Error e) {
      // e.g. an edit that does not fit the sampler: the read ends before the session closes
      awaitQuietly(restoring);
      close();
      throw e;
    }
    try {
      await(restoring);
    } catch (TensorFlowException | IllegalArgumentException | IllegalStateException e) {
      // TensorFlow reports a shape mismatch as TFInvalidArgumentException (an
      // IllegalArgumentException), a missing key as a TensorFlowException
      close();
      String reason = firstLine(e.getMessage());
      if (DAMAGED.matcher(reason).find()) {
        throw new IllegalArgumentException(
            origin + " is damaged (" + reason + "); " + damagedFix(checkpoint), e);
      }
      throw new IllegalArgumentException(
          origin
              + (checkpoint.isPresent()
                  ? " does not match its run's config.json ("
                  : " does not match the config in its metadata (")
              + config.model().describe()
              + "): "
              + reason,
          e);
    }
  }

  /**
   * Every weight read from the checkpoint or export and assigned to its variable: two RestoreV2 ops
   * of about equal bytes, which the session runs side by side (reading is CRC checks and copies,
   * one core per op). The checkpoint's path is fed, not a constant, so that an export of this graph
   * does not carry it.
   */
  private Op restoreOp(Operand<TString> prefix) {
    Ops restoring = tf.withSubScope("restore_weights");
    List<List<Variable<TFloat32>>> parts = List.of(new ArrayList<>(), new ArrayList<>());
    long[] bytes = new long[parts.size()];
    List<Variable<TFloat32>> largestFirst = new ArrayList<>(weights.values());
    largestFirst.sort(
        java.util.Comparator.comparingLong((Variable<TFloat32> v) -> v.shape().size()).reversed());
    for (Variable<TFloat32> variable : largestFirst) {
      int lighter = bytes[0] <= bytes[1] ? 0 : 1;
      parts.get(lighter).add(variable);
      bytes[lighter] += variable.shape().size();
    }
    List<Op> assigns = new ArrayList<>();
    for (List<Variable<TFloat32>> part : parts) {
      if (part.isEmpty()) {
        continue;
      }
      String[] names = part.stream().map(v -> v.op().name()).toArray(String[]::new);
      String[] wholeTensors = new String[names.length];
      java.util.Arrays.fill(wholeTensors, "");
      Restore read =
          restoring.train.restore(
              prefix,
              restoring.constant(NdArrays.vectorOfObjects(names)),
              restoring.constant(NdArrays.vectorOfObjects(wholeTensors)),
              java.util.Collections.<Class<? extends TType>>nCopies(names.length, TFloat32.class));
      for (int i = 0; i < names.length; i++) {
        @SuppressWarnings("unchecked")
        Operand<TFloat32> value = (Operand<TFloat32>) read.tensors().get(i);
        assigns.add(restoring.assign(part.get(i), value));
      }
    }
    return restoring.withControlDependencies(assigns).withName("all").noOp();
  }

  /** Waits for the restore, rethrowing what it threw. */
  private static void await(FutureTask<Void> restoring) {
    boolean interrupted = false;
    try {
      while (true) {
        try {
          restoring.get();
          return;
        } catch (InterruptedException e) {
          interrupted = true; // the session must not close under a running restore
        } catch (ExecutionException e) {
          if (e.getCause() instanceof RuntimeException runtime) {
            throw runtime;
          }
          if (e.getCause() instanceof Error error) {
            throw error;
          }
          throw new IllegalStateException(e.getCause());
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Waits for the restore, ignoring its failure (another one is being reported). */
  private static void awaitQuietly(FutureTask<Void> restoring) {
    try {
      await(restoring);
    } catch (RuntimeException | Error ignored) {
      // the caller's own failure is the one to report
    }
  }

  /**
   * Loads a run (its latest checkpoint) or one checkpoint folder.
   *
   * @param path a run folder, or a {@code checkpoints/ckpt-N} folder inside one
   * @param build adds the caller's ops (sampling loop, export signatures) to the graph before the
   *     session starts, reading the weights through {@link #weights()}
   * @throws IllegalArgumentException naming the path when it is no run or checkpoint
   */
  public static TrainedModel load(
      Path path,
      Weights which,
      SessionOptions options,
      java.util.function.Consumer<TrainedModel> build) {
    checkArgument(
        Files.exists(path),
        "%s does not exist; give a run folder (runs/...) or a checkpoint",
        path);
    Checkpoints.Checkpoint checkpoint = Checkpoints.resolve(path);
    Path runDir = checkpoint.runDir();
    TrainConfig config = RunDirectory.open(runDir).config();
    return new TrainedModel(
        config,
        Optional.of(checkpoint),
        checkpoint.prefix(),
        checkpoint.state().step(),
        "checkpoint " + checkpoint.dir(),
        which,
        options,
        build);
  }

  /**
   * Loads the weights of an export (a SavedModel version folder written by the exporter) into a
   * graph of this process's own, so that it samples with any sampler and this machine's kernels.
   *
   * @param export the export: its version folder, and its metadata's training config, weights and
   *     step
   * @throws IllegalArgumentException when the export's variables do not match the config
   */
  public static TrainedModel loadExport(
      ExportedModel export,
      SessionOptions options,
      java.util.function.Consumer<TrainedModel> build) {
    Path versionDir = export.versionDir();
    ExportMetadata meta = export.metadata();
    Path variables = versionDir.resolve("variables");
    checkArgument(
        Files.isRegularFile(variables.resolve("variables.index")),
        "%s has no variables/variables.index: not a complete SavedModel (still being copied?)",
        versionDir);
    return new TrainedModel(
        meta.config(),
        Optional.empty(),
        variables.resolve("variables").toString(),
        meta.trainingStep(),
        "export " + versionDir,
        meta.weights(),
        options,
        build);
  }

  /** What to do about a damaged checkpoint or export. */
  private static String damagedFix(Optional<Checkpoints.Checkpoint> damaged) {
    if (damaged.isEmpty()) {
      return "export the run again";
    }
    Path dir = damaged.get().dir();
    Optional<Checkpoints.Checkpoint> older =
        Checkpoints.of(damaged.get().runDir()).list().stream()
            .filter(c -> c.state().step() < damaged.get().state().step())
            .reduce((first, second) -> second);
    return older
        .map(
            c ->
                "give an older one, e.g. --checkpoint "
                    + c.dir()
                    + ", or resume the training (it continues from the newest intact checkpoint)")
        .orElse("no older checkpoint is left: resume or restart the training");
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "";
    }
    String line = message.strip();
    int nl = line.indexOf('\n');
    return nl < 0 ? line : line.substring(0, nl);
  }

  public TrainConfig config() {
    return config;
  }

  /**
   * The checkpoint the weights came from.
   *
   * @throws IllegalStateException for a model loaded from an export
   */
  public Checkpoints.Checkpoint checkpoint() {
    return checkpoint.orElseThrow(
        () ->
            new IllegalStateException(origin + " has no checkpoint: it was loaded from an export"));
  }

  /** The training step of the weights. */
  public long step() {
    return step;
  }

  /** The weights loaded: {@link Weights#RAW} where EMA was asked of a run with EMA decay 0. */
  public Weights which() {
    return which;
  }

  public Graph graph() {
    return graph;
  }

  public Ops tf() {
    return tf;
  }

  /** The weights as graph variables, keyed by weight name (without the ema/ prefix). */
  public Map<String, Operand<TFloat32>> weights() {
    return java.util.Collections.unmodifiableMap(weights);
  }

  /** The session, with the weights restored (valid once {@link #load} returned). */
  public Session session() {
    return session;
  }

  /** A one-line description for logs. */
  public String describe() {
    return String.format(
        "%s, %s weights of step %d (%s)",
        config.model().describe(), which.name().toLowerCase(java.util.Locale.ROOT), step, origin);
  }

  @Override
  public void close() {
    if (session != null) {
      session.close();
    }
    graph.close();
  }
}
