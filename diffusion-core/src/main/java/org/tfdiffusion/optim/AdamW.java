package org.tfdiffusion.optim;

import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.OperationBuilder;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.Scope;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.Unfolded;

/**
 * AdamW (Loshchilov &amp; Hutter 2019, "Decoupled Weight Decay Regularization"), exactly as
 * PyTorch's {@code torch.optim.AdamW}, with optional clipping by global norm:
 *
 * <pre>
 *   g ← g · min(1, c / (‖g‖₂ + 1e-6))               clipping over all weights (c = clipNorm)
 *   θ ← θ · (1 - lr·λ)                              decoupled weight decay
 *   m ← β₁ m + (1 - β₁) g          v ← β₂ v + (1 - β₂) g²
 *   θ ← θ - lr · (m / (1 - β₁ᵗ)) / (√(v / (1 - β₂ᵗ)) + ε)
 * </pre>
 *
 * The Adam part runs in TensorFlow's fused {@code ApplyAdam} kernel (one pass over each weight),
 * with its ε̂ set to ε·√(1 - β₂ᵗ) so that the update equals PyTorch's formula above. The slots m
 * and v are variables named {@code optimizer/m/<weight>} and {@code optimizer/v/<weight>}, so
 * checkpoints hold them. The learning rate is an operand (the caller feeds the schedule's value); t
 * is the 1-based step.
 */
public final class AdamW {
  private final Ops tf;
  private final AdamWConfig config;
  private final Ops firstMomentScope;
  private final Ops secondMomentScope;
  private final Map<String, Variable<TFloat32>> firstMoments = new LinkedHashMap<>();
  private final Map<String, Variable<TFloat32>> secondMoments = new LinkedHashMap<>();

  /** The run-time zero the slots start from (see {@link Unfolded}). */
  private final Operand<TFloat64> initZero;

  private final boolean clipOutsideXla;

  public AdamW(Ops tf, AdamWConfig config) {
    this(tf, config, false);
  }

  /**
   * @param clipOutsideXla keep the gradients' norms and their clipping out of XLA's clusters
   *     (marked {@code _XlaCompile=false}): where the backward pass is split into many clusters
   *     (native convolutions), a cluster holding every gradient's norm would also take in the
   *     reductions that make them (group norm's scale gradients over whole activations), holding
   *     those activations until the backward pass ends
   */
  public AdamW(Ops tf, AdamWConfig config, boolean clipOutsideXla) {
    this.tf = tf;
    this.config = config;
    this.clipOutsideXla = clipOutsideXla;
    this.initZero = Unfolded.zero(tf.withSubScope("adamw_init").withInitScope());
    // Sub-scopes are made once: TensorFlow Java renames a repeated sub-scope (optimizer_1, ...).
    Ops slots = tf.withSubScope("optimizer");
    this.firstMomentScope = slots.withSubScope("m");
    this.secondMomentScope = slots.withSubScope("v");
  }

  public AdamWConfig config() {
    return config;
  }

  /** The result of {@link #update}: the op that applies it and the pre-clipping gradient norm. */
  public record Update(Op op, Operand<TFloat32> gradientNorm) {}

  /**
   * Builds one optimizer step for the named weights.
   *
   * @param weights the variables to update, keyed by weight name
   * @param gradients their gradients, same keys
   * @param learningRate float32 scalar, this step's learning rate
   * @param step int64 scalar, the 1-based step number t (for the bias corrections)
   */
  public Update update(
      Map<String, Variable<TFloat32>> weights,
      Map<String, Operand<TFloat32>> gradients,
      Operand<TFloat32> learningRate,
      Operand<TInt64> step) {
    // The norm, the clipping and the step's scalars need no ordering beyond their data inputs, so
    // under XLA they join the backward pass's cluster, which then hands out clipped gradients
    // only (a separate cluster held raw and clipped gradients at once: one more model-sized
    // buffer at the peak).
    Ops math = tf.withSubScope("adamw");
    Operand<TFloat32> norm = globalNorm(math, gradients.values(), clipOutsideXla);
    Operand<TFloat32> scale = null;
    if (config.clipNorm() > 0) {
      // min(1, c / (norm + 1e-6)): torch.nn.utils.clip_grad_norm_
      scale =
          math.math.minimum(
              math.constant(1f),
              math.math.div(
                  math.constant((float) config.clipNorm()),
                  math.math.add(norm, math.constant(1e-6f))));
    }
    Operand<TFloat32> t = math.dtypes.cast(step, TFloat32.class);
    Operand<TFloat32> beta1 = math.constant((float) config.beta1());
    Operand<TFloat32> beta2 = math.constant((float) config.beta2());
    Operand<TFloat32> beta1Power = math.math.pow(beta1, t);
    Operand<TFloat32> beta2Power = math.math.pow(beta2, t);
    Operand<TFloat32> epsilonHat =
        math.math.mul(
            math.constant((float) config.epsilon()),
            math.math.sqrt(math.math.sub(math.constant(1f), beta2Power)));
    Operand<TFloat32> decayRate =
        math.math.mul(learningRate, math.constant((float) config.weightDecay()));
    // Every in-place update waits for every gradient: weights are ref variables, and the backward
    // pass still reads them (e.g. Conv2DBackpropInput reads the filter) until it ends.
    List<Operation> allGradients = new ArrayList<>();
    gradients.values().forEach(g -> allGradients.add(g.op()));
    Ops opt = math.withControlDependencyOps(allGradients);
    List<Op> updates = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> entry : weights.entrySet()) {
      String name = entry.getKey();
      Variable<TFloat32> weight = entry.getValue();
      Operand<TFloat32> grad = gradients.get(name);
      if (grad == null) {
        throw new IllegalArgumentException("no gradient for weight " + name);
      }
      if (scale != null) {
        grad = clipOutsideXla ? unclustered(math, "Mul", grad, scale) : math.math.mul(grad, scale);
      }
      Variable<TFloat32> m = slot(firstMoments, firstMomentScope, name, weight);
      Variable<TFloat32> v = slot(secondMoments, secondMomentScope, name, weight);
      Ops withDecay = opt;
      if (config.weightDecay() > 0) {
        // θ ← θ - lr·λ·θ in place (no model-sized temporary as θ·(1 - lr·λ) would need)
        withDecay =
            opt.withControlDependencies(
                List.of(opt.train.applyGradientDescent(weight, decayRate, weight)));
      }
      updates.add(
          withDecay.train.applyAdam(
              weight, m, v, beta1Power, beta2Power, learningRate, beta1, beta2, epsilonHat, grad));
    }
    return new Update(opt.withControlDependencies(updates).noOp(), norm);
  }

  /** √(Σ ‖g_i‖²) over all gradients. */
  public static Operand<TFloat32> globalNorm(Ops tf, Iterable<Operand<TFloat32>> gradients) {
    return globalNorm(tf, gradients, false);
  }

  private static Operand<TFloat32> globalNorm(
      Ops tf, Iterable<Operand<TFloat32>> gradients, boolean outsideXla) {
    List<Operand<TFloat32>> halfSquares = new ArrayList<>();
    for (Operand<TFloat32> g : gradients) {
      // sum(g²) / 2, one fused kernel
      halfSquares.add(outsideXla ? unclustered(tf, "L2Loss", g) : tf.nn.l2Loss(g));
    }
    return tf.math.sqrt(tf.math.mul(tf.math.addN(halfSquares), tf.constant(2f)));
  }

  /** A float op of {@code type} that XLA's auto-clustering leaves alone. */
  private static Operand<TFloat32> unclustered(Ops tf, String type, Operand<?>... inputs) {
    Scope scope = tf.scope();
    OperationBuilder builder = scope.opBuilder(type, type);
    for (Operand<?> input : inputs) {
      builder.addInput(input.asOutput());
    }
    return scope.apply(builder).setAttr("_XlaCompile", false).build().output(0);
  }

  private Variable<TFloat32> slot(
      Map<String, Variable<TFloat32>> slots, Ops scope, String name, Variable<TFloat32> weight) {
    return slots.computeIfAbsent(
        name,
        n ->
            scope
                .withName(n)
                .variable(Unfolded.zeros(scope.withInitScope(), weight.shape(), initZero)));
  }

  /** First-moment slots m, keyed by weight name. */
  public ImmutableMap<String, Variable<TFloat32>> firstMoments() {
    return ImmutableMap.copyOf(firstMoments);
  }

  /** Second-moment slots v, keyed by weight name. */
  public ImmutableMap<String, Variable<TFloat32>> secondMoments() {
    return ImmutableMap.copyOf(secondMoments);
  }
}
