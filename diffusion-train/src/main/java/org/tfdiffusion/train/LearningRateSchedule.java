package org.tfdiffusion.train;

import org.tfdiffusion.run.TrainConfig;

/**
 * The learning rate at each optimizer step (1-based), computed in double on the host and fed to the
 * graph:
 *
 * <pre>
 *   warm-up   n ≤ W:  lr · n / W
 *   constant  n &gt; W:  lr
 *   cosine    n &gt; W:  lr_min + ½ (lr - lr_min)(1 + cos(π (n - W) / (N - W)))
 * </pre>
 */
record LearningRateSchedule(
    double peak, int warmupSteps, boolean cosine, double minimum, int totalSteps) {

  static LearningRateSchedule of(TrainConfig config) {
    TrainConfig.Optimizer o = config.optimizer();
    return new LearningRateSchedule(
        o.learningRate(),
        o.warmupSteps(),
        o.cosineDecay(),
        o.minLearningRate(),
        config.training().steps());
  }

  /** The rate for optimizer step n (1-based). */
  double at(long n) {
    if (warmupSteps > 0 && n <= warmupSteps) {
      return peak * n / warmupSteps;
    }
    if (!cosine || totalSteps <= warmupSteps) {
      return peak;
    }
    double progress = Math.min(1.0, (n - warmupSteps) / (double) (totalSteps - warmupSteps));
    return minimum + 0.5 * (peak - minimum) * (1 + Math.cos(Math.PI * progress));
  }
}
