package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.util.List;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Where a layer is being built: the op factory (sub-scoped for readable graph names), the weights
 * view, the layer's path (which names its weights, segments joined by '.') and whether the graph
 * trains (dropout on) or infers.
 *
 * <p>Immutable; {@link #child(String)} descends one level. All scopes of one build share one {@link
 * ModelLedger}.
 */
public final class NetScope {
  private final Ops tf;
  private final Parameters parameters;
  private final String path;
  private final ModelLedger ledger;
  private final Optional<Operand<TInt64>> dropoutSeed;
  private final boolean nativeConvolutions;
  private final boolean bfloat16Convolutions;
  private final boolean keptFilters;

  private NetScope(
      Ops tf,
      Parameters parameters,
      String path,
      ModelLedger ledger,
      Optional<Operand<TInt64>> dropoutSeed,
      boolean nativeConvolutions,
      boolean bfloat16Convolutions,
      boolean keptFilters) {
    this.tf = tf;
    this.parameters = parameters;
    this.path = path;
    this.ledger = ledger;
    this.dropoutSeed = dropoutSeed;
    this.nativeConvolutions = nativeConvolutions;
    this.bfloat16Convolutions = bfloat16Convolutions;
    this.keptFilters = keptFilters;
  }

  /** A root scope for inference: dropout off. */
  public static NetScope inference(Ops tf, Parameters parameters) {
    return new NetScope(
        tf, parameters, "", new ModelLedger(), Optional.empty(), false, false, false);
  }

  /**
   * A root scope for training: dropout on, its masks drawn statelessly from {@code dropoutSeed}
   * (int64 [2], fed per step so each step draws new masks).
   */
  public static NetScope training(Ops tf, Parameters parameters, Operand<TInt64> dropoutSeed) {
    return new NetScope(
        tf, parameters, "", new ModelLedger(), Optional.of(dropoutSeed), false, false, false);
  }

  /** The scope of a sub-layer called {@code name}. */
  public NetScope child(String name) {
    checkArgument(
        name != null && name.matches("[A-Za-z0-9_]+"),
        "layer names are letters, digits and '_', got '%s'",
        name);
    String childPath = path.isEmpty() ? name : path + "." + name;
    return new NetScope(
        tf.withSubScope(name),
        parameters,
        childPath,
        ledger,
        dropoutSeed,
        nativeConvolutions,
        bfloat16Convolutions,
        keptFilters);
  }

  /**
   * This scope with its k×k convolutions (k > 1) built from {@link NativeConv}'s oneDNN ops instead
   * of TensorFlow's {@code Conv2D}; their gradients are oneDNN's too. Its 1×1 convolutions become
   * matrix products and its group norms take the coefficient form whose backward pass reads less
   * (see {@link Conv2d}, {@link GroupNorm}). Graphs meant for other runtimes (exports for
   * TensorFlow Serving) keep TensorFlow's ops.
   *
   * @throws IllegalStateException where the native ops are not available
   */
  public NetScope withNativeConvolutions(boolean on) {
    if (on && !NativeConv.available()) {
      throw new IllegalStateException(
          "the oneDNN convolution ops are not available: "
              + NativeConv.unavailableReason().orElse(""));
    }
    return new NetScope(
        tf, parameters, path, ledger, dropoutSeed, on, on && bfloat16Convolutions, keptFilters);
  }

  /**
   * This scope with its native convolutions between feature maps (16 channels or more on both
   * sides) run in bfloat16: input and filter rounded to bfloat16, float32 accumulation and output
   * ({@link NativeConv#conv2d(Ops, Operand, Operand, Operand, int, boolean, boolean)}). The
   * convolutions that read the image or write the model output stay float32. Inference only.
   *
   * @throws IllegalStateException without native convolutions, or in a training scope
   */
  public NetScope withBfloat16Convolutions(boolean on) {
    checkState(!on || nativeConvolutions, "bfloat16 convolutions need the native convolutions");
    checkState(!on || !training(), "bfloat16 convolutions are for inference only");
    return new NetScope(
        tf, parameters, path, ledger, dropoutSeed, nativeConvolutions, on, keptFilters);
  }

  /**
   * This scope with its native convolutions keeping their filters reordered within a {@code
   * Session.run} ({@link NativeConv#conv2d(Ops, Operand, Operand, Operand, int, boolean,
   * boolean)}): for sampling graphs, whose weights stay put while a loop calls each convolution
   * every step. Training graphs leave it off: their filters change every step, and kept copies
   * would only cost memory.
   *
   * @throws IllegalStateException in a training scope
   */
  public NetScope withKeptFilters(boolean on) {
    checkState(!on || !training(), "kept filters are for inference only");
    return new NetScope(
        tf, parameters, path, ledger, dropoutSeed, nativeConvolutions, bfloat16Convolutions, on);
  }

  /** Whether this scope's native convolutions keep their filters reordered within a run. */
  public boolean keptFilters() {
    return keptFilters;
  }

  /** Whether this scope's native convolutions between feature maps run in bfloat16. */
  public boolean bfloat16Convolutions() {
    return bfloat16Convolutions;
  }

  /** Whether this scope builds its k×k convolutions from the native oneDNN ops. */
  public boolean nativeConvolutions() {
    return nativeConvolutions;
  }

  /** The op factory, sub-scoped to this layer. */
  public Ops tf() {
    return tf;
  }

  /** This layer's path, e.g. {@code down_1.res_0.conv1}; empty at the root. */
  public String path() {
    return path;
  }

  /** The shared record of this build. */
  public ModelLedger ledger() {
    return ledger;
  }

  /** Whether this graph trains (dropout on). */
  public boolean training() {
    return dropoutSeed.isPresent();
  }

  /**
   * The weight {@code name} of this layer.
   *
   * @param shape its static shape
   * @param initializer how it starts
   */
  public Operand<TFloat32> param(String name, Shape shape, Initializer initializer) {
    ParameterSpec spec =
        new ParameterSpec(path.isEmpty() ? name : path + "." + name, shape, initializer);
    ledger.recordParameter(spec);
    return parameters.get(spec);
  }

  /** Records this layer's forward FLOPs for one image. */
  public void addFlops(long perImage) {
    ledger.recordFlops(path, perImage);
  }

  /**
   * A fresh int64 [2] seed for one dropout site: the site's index folded into the step's seed as
   * {@code tf.random.experimental.stateless_fold_in} does, {@code [h(seed), site]} with h a
   * stateless random draw from the step seed. (Adding the index to the seed would make site j + 1
   * of step seed s and site j of step seed s + [0, 1] share a seed, hence a mask.)
   */
  public Operand<TInt64> nextDropoutSeed() {
    checkState(dropoutSeed.isPresent(), "dropout seeds exist only in a training scope");
    int site = ledger.nextDropoutSite();
    Operand<TInt64> stepHash =
        tf.random.statelessRandomUniformFullInt(
            tf.constant(new int[] {1}), dropoutSeed.get(), TInt64.class);
    return tf.concat(List.of(stepHash, tf.constant(new long[] {site})), tf.constant(0));
  }
}
