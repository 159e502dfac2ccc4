package org.tfdiffusion.testing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.ModelLedger;
import org.tfdiffusion.nn.NetScope;

/**
 * Known weights for parity tests: seeded float32 values by full weight name (e.g. {@code
 * conv.weight}), bound into a graph through {@link BoundParameters} and read back in double
 * precision by a plain-Java reference.
 */
public final class SeededWeights {
  private final Random random;
  private final Map<String, Shape> shapes = new LinkedHashMap<>();
  private final Map<String, float[]> values = new LinkedHashMap<>();

  public SeededWeights(long seed) {
    this.random = new Random(seed);
  }

  /** Adds weight {@code name} with values U(-bound, bound) and returns them. */
  public double[] uniform(String name, double bound, long... shape) {
    return add(name, shape, () -> (2 * random.nextDouble() - 1) * bound);
  }

  /** Adds weight {@code name} with values N(mean, std²) and returns them. */
  public double[] gaussian(String name, double mean, double std, long... shape) {
    return add(name, shape, () -> mean + std * random.nextGaussian());
  }

  /** Adds weight {@code name} with every value equal to {@code value} and returns them. */
  public double[] fill(String name, double value, long... shape) {
    return add(name, shape, () -> value);
  }

  /** Adds weight {@code name} with the given values (rounded to float32) and returns them. */
  public double[] values(String name, double[] given, long... shape) {
    int[] next = {0};
    checkArgument(
        Shape.of(shape).size() == given.length,
        "%s: shape %s needs %s values, got %s",
        name,
        Shape.of(shape),
        Shape.of(shape).size(),
        given.length);
    return add(name, shape, () -> given[next[0]++]);
  }

  /** The weight names in the order they were added. */
  public Set<String> names() {
    return Collections.unmodifiableSet(values.keySet());
  }

  /** The values of weight {@code name} in double precision (exactly the bound float32 values). */
  public double[] get(String name) {
    float[] v = values.get(name);
    checkArgument(v != null, "no test weight %s; have %s", name, values.keySet());
    double[] out = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = v[i];
    }
    return out;
  }

  /** Every weight as a graph constant, by name (for example to differentiate with respect to). */
  public Map<String, Operand<TFloat32>> constants(Ops tf) {
    Map<String, Operand<TFloat32>> bound = new LinkedHashMap<>();
    values.forEach(
        (name, v) ->
            bound.put(name, tf.constant(shapes.get(name), DataBuffers.of(v, true, false))));
    return bound;
  }

  /** Binds every weight as a graph constant. */
  public BoundParameters bind(Ops tf) {
    return new BoundParameters(constants(tf));
  }

  /** What running one layer produced. */
  public record LayerOutput(Shape shape, float[] values, ModelLedger ledger) {
    /** The output as an NHWC map (the output must have rank 4). */
    public Nhwc nhwc() {
      checkArgument(shape.numDimensions() == 4, "output has shape %s, not NHWC", shape);
      return Nhwc.of(
          values, (int) shape.get(0), (int) shape.get(1), (int) shape.get(2), (int) shape.get(3));
    }
  }

  /**
   * Builds {@code layer} in an inference scope over these weights, runs it once and returns its
   * output (with the runtime shape) and the build's ledger.
   */
  public LayerOutput runInference(Function<NetScope, Operand<TFloat32>> layer) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, bind(tf));
      Operand<TFloat32> output = layer.apply(scope);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(output).run()) {
        Tensor t = r.get(0);
        return new LayerOutput(t.shape(), TensorIO.toFloats(t), scope.ledger());
      }
    }
  }

  private double[] add(String name, long[] shape, DoubleSupplier draw) {
    checkArgument(!values.containsKey(name), "test weight %s added twice", name);
    Shape s = Shape.of(shape);
    float[] v = new float[Math.toIntExact(s.size())];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) draw.getAsDouble();
    }
    shapes.put(name, s);
    values.put(name, v);
    return get(name);
  }
}
