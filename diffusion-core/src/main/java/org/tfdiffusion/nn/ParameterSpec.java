package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.ndarray.Shape;

/**
 * A named float32 weight of a model: its full name (path segments joined by '.'), its static shape
 * and how it starts.
 */
public record ParameterSpec(String name, Shape shape, Initializer initializer) {
  public ParameterSpec {
    checkArgument(name != null && !name.isEmpty(), "parameter name must not be empty");
    checkArgument(
        shape != null && !shape.isUnknown() && !shape.hasUnknownDimension(),
        "parameter %s needs a fully known shape, got %s",
        name,
        shape);
    checkArgument(initializer != null, "parameter %s has no initializer", name);
  }

  /** The number of scalars in this weight. */
  public long size() {
    return shape.size();
  }
}
