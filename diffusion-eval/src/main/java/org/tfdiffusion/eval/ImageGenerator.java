package org.tfdiffusion.eval;

/**
 * Generates images with one sampler setting: one seed (and, for class-conditional models, one label
 * and one guidance scale) per image. Owns native resources.
 */
public interface ImageGenerator extends AutoCloseable {
  /** The sampler's full description, e.g. {@code dpm-solver++(steps=20, order=2, ...)}. */
  String samplerName();

  /** Network evaluations per image (the sampler's steps; guidance batches both passes in one). */
  int steps();

  /**
   * Images in [0, 1], NHWC, one per seed.
   *
   * @param labels one per image for conditional models, empty otherwise
   * @param guidance one per image for conditional models, empty otherwise
   */
  float[] generate(long[] seeds, int[] labels, float[] guidance);

  @Override
  void close();
}
