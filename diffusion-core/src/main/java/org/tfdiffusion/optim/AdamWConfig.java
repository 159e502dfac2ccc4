package org.tfdiffusion.optim;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * Hyper-parameters of {@link AdamW}; the defaults are PyTorch's {@code torch.optim.AdamW} with the
 * tutorial's learning rate and weight decay.
 *
 * @param beta1 decay of the first-moment average (default 0.9)
 * @param beta2 decay of the second-moment average (default 0.999)
 * @param epsilon added to √v̂ in the denominator (default 1e-8)
 * @param weightDecay decoupled weight decay λ: each step θ ← θ(1 - lr·λ) (default 0.01)
 * @param clipNorm clip gradients to this global L2 norm; 0 disables (default 1.0)
 */
public record AdamWConfig(
    double beta1, double beta2, double epsilon, double weightDecay, double clipNorm) {
  /** The tutorial's learning rate. */
  public static final double DEFAULT_LEARNING_RATE = 1e-4;

  public AdamWConfig {
    checkArgument(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got %s", beta1);
    checkArgument(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got %s", beta2);
    checkArgument(
        epsilon > 0 && Double.isFinite(epsilon), "epsilon must be finite and > 0, got %s", epsilon);
    checkArgument(
        weightDecay >= 0 && Double.isFinite(weightDecay),
        "weight decay must be finite and >= 0, got %s",
        weightDecay);
    checkArgument(
        clipNorm >= 0 && Double.isFinite(clipNorm),
        "clip norm must be finite and >= 0 (0 = off), got %s",
        clipNorm);
  }

  /** PyTorch's AdamW defaults with weight decay 0.01 and clipping at global norm 1. */
  public static AdamWConfig defaults() {
    return new AdamWConfig(0.9, 0.999, 1e-8, 0.01, 1.0);
  }
}
