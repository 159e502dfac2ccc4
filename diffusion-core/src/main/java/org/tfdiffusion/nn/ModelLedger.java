package org.tfdiffusion.nn;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What building a model recorded: every weight it asked for, in order, and the forward FLOPs per
 * image of each layer (2 × multiply-adds of convolutions and dense layers, the convention of {@code
 * peer/seed_flops.py}).
 */
public final class ModelLedger {
  private final Map<String, ParameterSpec> parameters = new LinkedHashMap<>();
  private final Map<String, Long> flops = new LinkedHashMap<>();
  private int dropoutSites;

  void recordParameter(ParameterSpec spec) {
    ParameterSpec previous = parameters.putIfAbsent(spec.name(), spec);
    checkArgument(
        previous == null || previous.shape().equals(spec.shape()),
        "weight %s declared twice with shapes %s and %s",
        spec.name(),
        previous == null ? null : previous.shape(),
        spec.shape());
  }

  void recordFlops(String path, long perImage) {
    flops.merge(path, perImage, Long::sum);
  }

  int nextDropoutSite() {
    return dropoutSites++;
  }

  /** Every weight, in the order the model asked for them. */
  public ImmutableMap<String, ParameterSpec> parameters() {
    return ImmutableMap.copyOf(parameters);
  }

  /** Forward FLOPs per image by layer path. */
  public ImmutableMap<String, Long> flops() {
    return ImmutableMap.copyOf(flops);
  }

  /** The number of trainable scalars. */
  public long parameterCount() {
    return parameters.values().stream().mapToLong(ParameterSpec::size).sum();
  }

  /** Forward FLOPs for one image. */
  public long flopsPerImage() {
    return flops.values().stream().mapToLong(Long::longValue).sum();
  }
}
