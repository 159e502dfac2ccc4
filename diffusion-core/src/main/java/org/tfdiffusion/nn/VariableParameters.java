package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import com.google.common.hash.Hashing;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.Unfolded;

/**
 * Weights backed by graph variables, created on first request and initialised from a seed.
 *
 * <p>Each variable's op is named exactly after its {@link ParameterSpec#name()} (for example {@code
 * down_0.res_0.conv1.weight}), so checkpoints are keyed by stable, readable names. The initial
 * value of a weight depends only on the model seed and the weight's name: the same seed gives the
 * same initial weights whatever the build order.
 */
public final class VariableParameters implements Parameters {
  private final Ops tf;
  private final Ops initOps;
  private final long seed;
  private final Map<String, ParameterSpec> specs = new LinkedHashMap<>();
  private final Map<String, Variable<TFloat32>> variables = new LinkedHashMap<>();
  private final Map<String, Operand<TFloat32>> initialValues = new LinkedHashMap<>();

  /** The run-time zero of the seeds (see {@link Unfolded}), made with the first weight. */
  private Operand<TFloat64> runtimeZero;

  /**
   * @param tf the root of the graph's op factory (variables are named at its scope)
   * @param seed the model seed from which every initial value is drawn
   */
  public VariableParameters(Ops tf, long seed) {
    this.tf = tf;
    this.initOps = tf.withSubScope("init").withInitScope();
    this.seed = seed;
  }

  @Override
  public Operand<TFloat32> get(ParameterSpec spec) {
    Variable<TFloat32> existing = variables.get(spec.name());
    if (existing != null) {
      checkArgument(
          specs.get(spec.name()).shape().equals(spec.shape()),
          "weight %s requested with shape %s but exists with shape %s",
          spec.name(),
          spec.shape(),
          specs.get(spec.name()).shape());
      return existing;
    }
    Operand<TFloat32> init = spec.initializer().build(initOps, spec.shape(), seedOf(spec.name()));
    Variable<TFloat32> variable = tf.withName(spec.name()).variable(init);
    specs.put(spec.name(), spec);
    variables.put(spec.name(), variable);
    initialValues.put(spec.name(), init);
    return variable;
  }

  /** The variables in creation order, keyed by weight name. */
  public ImmutableMap<String, Variable<TFloat32>> variables() {
    return ImmutableMap.copyOf(variables);
  }

  /**
   * The init-scope operands that compute each weight's initial value (for shadows that must start
   * equal to the weights, such as an EMA).
   */
  public ImmutableMap<String, Operand<TFloat32>> initialValues() {
    return ImmutableMap.copyOf(initialValues);
  }

  /** The specs in creation order, keyed by weight name. */
  public ImmutableMap<String, ParameterSpec> specs() {
    return ImmutableMap.copyOf(specs);
  }

  /** The model seed. */
  public long seed() {
    return seed;
  }

  private Operand<TInt64> seedOf(String name) {
    long nameHash =
        Hashing.farmHashFingerprint64().hashString(name, StandardCharsets.UTF_8).asLong();
    if (runtimeZero == null) {
      runtimeZero = Unfolded.zero(initOps);
    }
    return Unfolded.int64(initOps, initOps.constant(new long[] {seed, nameHash}), runtimeZero);
  }
}
