package org.tfdiffusion.eval;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.eval.metrics.KernelInceptionDistance;

/**
 * What one evaluation generates and how it measures.
 *
 * @param n images to generate (for conditional models spread evenly over the classes: image i asks
 *     for class i mod K)
 * @param seed image i uses seed + i; the floor's training images and KID's subsets derive from it
 * @param batchSize images per sampling call
 * @param kidSubsets KID's number of subsets
 * @param kidSubsetSize KID's subset size (capped by the set sizes)
 */
public record EvalSettings(int n, long seed, int batchSize, int kidSubsets, int kidSubsetSize) {
  /** The default number of generated images, as for FID. */
  public static final int DEFAULT_N = 10_000;

  public EvalSettings {
    checkArgument(n >= 2, "--n must be >= 2 (FD and KID need two images at least), got %s", n);
    checkArgument(batchSize >= 1, "--batch-size must be >= 1, got %s", batchSize);
    checkArgument(kidSubsets >= 1, "--kid-subsets must be >= 1, got %s", kidSubsets);
    checkArgument(kidSubsetSize >= 2, "--kid-subset-size must be >= 2, got %s", kidSubsetSize);
  }

  /** N images with seed, batch size and KID's reference settings. */
  public static EvalSettings of(int n, long seed, int batchSize) {
    return new EvalSettings(
        n,
        seed,
        batchSize,
        KernelInceptionDistance.DEFAULT_SUBSETS,
        KernelInceptionDistance.DEFAULT_SUBSET_SIZE);
  }
}
