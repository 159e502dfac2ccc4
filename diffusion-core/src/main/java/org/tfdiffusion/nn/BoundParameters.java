package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;

/**
 * Weights bound to given operands, for instance the inputs of a function body through which the
 * weights enter the sampling loop as loop invariants.
 */
public final class BoundParameters implements Parameters {
  private final ImmutableMap<String, Operand<TFloat32>> values;

  public BoundParameters(Map<String, ? extends Operand<TFloat32>> values) {
    this.values = ImmutableMap.copyOf(values);
  }

  @Override
  public Operand<TFloat32> get(ParameterSpec spec) {
    Operand<TFloat32> value = values.get(spec.name());
    checkArgument(
        value != null,
        "no value bound for weight %s; bound: %s weights (does the model config match the"
            + " weights?)",
        spec.name(),
        values.size());
    Shape actual = value.shape();
    checkArgument(
        actual.isUnknown() || actual.isCompatibleWith(spec.shape()),
        "weight %s is bound to shape %s but the model needs %s",
        spec.name(),
        actual,
        spec.shape());
    return value;
  }
}
