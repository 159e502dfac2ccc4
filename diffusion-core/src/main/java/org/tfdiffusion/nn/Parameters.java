package org.tfdiffusion.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * The weights of a model, looked up by name: the one place model code reads them from.
 *
 * <p>In the training graph the view is backed by variables ({@link VariableParameters}); inside a
 * function body (the sampling loop) by the function's inputs ({@link BoundParameters}). One model
 * builder serves both, and no code ever scans a graph for variables.
 */
public interface Parameters {
  /**
   * The value of the weight described by {@code spec}.
   *
   * @throws IllegalArgumentException if this view cannot provide the weight with that shape
   */
  Operand<TFloat32> get(ParameterSpec spec);
}
