package org.tfdiffusion.eval.classifier;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * How {@link ClassifierTrainer} trains the {@link FashionClassifier}.
 *
 * @param epochs passes over the training split
 * @param batchSize images per AdamW step
 * @param learningRate the peak rate, reached after a linear warm-up and decayed to 0 by a cosine
 * @param warmupSteps steps of the linear warm-up
 * @param weightDecay AdamW's decoupled weight decay λ
 * @param dropout dropout rate on the features during training
 * @param flip random horizontal flips (Fashion-MNIST's items are nearly symmetric)
 * @param seed the seed of the weights, the data order, the flips and the dropout masks
 */
public record ClassifierTrainConfig(
    int epochs,
    int batchSize,
    double learningRate,
    int warmupSteps,
    double weightDecay,
    double dropout,
    boolean flip,
    long seed) {

  public ClassifierTrainConfig {
    checkArgument(epochs >= 1, "--epochs must be >= 1, got %s", epochs);
    checkArgument(batchSize >= 1, "--batch-size must be >= 1, got %s", batchSize);
    checkArgument(
        learningRate > 0 && Double.isFinite(learningRate),
        "--lr must be > 0, got %s",
        learningRate);
    checkArgument(warmupSteps >= 0, "warm-up steps must be >= 0, got %s", warmupSteps);
    checkArgument(weightDecay >= 0, "--weight-decay must be >= 0, got %s", weightDecay);
    checkArgument(dropout >= 0 && dropout < 1, "--dropout must be in [0, 1), got %s", dropout);
  }

  /** The shipped classifier's settings. */
  public static ClassifierTrainConfig defaults() {
    return new ClassifierTrainConfig(8, 128, 2e-3, 200, 1e-2, 0.3, true, 0);
  }

  public ClassifierTrainConfig withEpochs(int n) {
    return new ClassifierTrainConfig(
        n, batchSize, learningRate, warmupSteps, weightDecay, dropout, flip, seed);
  }

  public ClassifierTrainConfig withBatchSize(int n) {
    return new ClassifierTrainConfig(
        epochs, n, learningRate, warmupSteps, weightDecay, dropout, flip, seed);
  }

  public ClassifierTrainConfig withLearningRate(double lr) {
    return new ClassifierTrainConfig(
        epochs, batchSize, lr, warmupSteps, weightDecay, dropout, flip, seed);
  }

  public ClassifierTrainConfig withSeed(long s) {
    return new ClassifierTrainConfig(
        epochs, batchSize, learningRate, warmupSteps, weightDecay, dropout, flip, s);
  }

  /**
   * The learning rate of optimizer step n (1-based): {@code lr·n/W} during the warm-up, then {@code
   * ½ lr (1 + cos(π (n - W) / (N - W)))} down to 0 at the last step N.
   */
  public double learningRateAt(long n, long totalSteps) {
    if (warmupSteps > 0 && n <= warmupSteps) {
      return learningRate * n / warmupSteps;
    }
    if (totalSteps <= warmupSteps) {
      return learningRate;
    }
    double progress = Math.min(1.0, (n - warmupSteps) / (double) (totalSteps - warmupSteps));
    return 0.5 * learningRate * (1 + Math.cos(Math.PI * progress));
  }
}
