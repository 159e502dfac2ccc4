package org.tfdiffusion.eval;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Optional;
import java.util.function.IntConsumer;
import org.tfdiffusion.data.BatchIterator;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.eval.classifier.Classifier;
import org.tfdiffusion.eval.metrics.FrechetDistance;
import org.tfdiffusion.eval.metrics.GaussianStats;
import org.tfdiffusion.eval.metrics.KernelInceptionDistance;

/**
 * Measures image sets against the real test split with the classifier's features: FD, KID and class
 * accuracy. The test split is embedded once, when the evaluator is made.
 *
 * <p>Generated images are quantised to 8 bits first ({@code round(255 p) / 127.5 - 1}), as if they
 * had been saved as PNG, so that they reach the classifier on the same grid of values as the real
 * images.
 */
public final class Evaluator {
  /** Offsets KID's subset seed from the evaluation seed. */
  private static final long KID_SEED_OFFSET = 0x4B1D;

  /** Offsets the choice of the floor's training images from the evaluation seed. */
  private static final long FLOOR_SEED_OFFSET = 0xF100;

  private static final int MAX_PIXEL = 255;
  private static final double HALF_RANGE = 127.5;

  private final Classifier classifier;
  private final double[][] testFeatures;
  private final GaussianStats testStats;
  private final int testImages;

  /** Embeds {@code test} with {@code classifier} (which stays owned by the caller). */
  public Evaluator(Classifier classifier, ImageDataset test) {
    this.classifier = classifier;
    this.testFeatures = classifier.embed(test).features();
    this.testStats = GaussianStats.fit(testFeatures);
    this.testImages = test.size();
  }

  /** The number of real test images compared with. */
  public int testImages() {
    return testImages;
  }

  /**
   * The floor: {@code n} real training images (a seeded random choice, all of them when there are
   * fewer) against the test split; class accuracy against their true labels.
   */
  public Figures floor(ImageDataset train, EvalSettings settings) {
    int n = Math.min(settings.n(), train.size());
    int[] permutation =
        BatchIterator.permutation(settings.seed() + FLOOR_SEED_OFFSET, 0, train.size());
    int[] chosen = java.util.Arrays.copyOf(permutation, n);
    Classifier.Embedding e = classifier.embed(train, chosen);
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      labels[i] = train.label(chosen[i]);
    }
    return figures(e, Optional.of(labels), settings, 0);
  }

  /**
   * Generates {@code settings.n()} images and measures them.
   *
   * @param guidance the guidance scale for a conditional model (ignored otherwise)
   * @param classes the model's classes (0 for unconditional)
   * @param progress told how many images are done after each batch
   */
  public Figures generated(
      ImageGenerator generator,
      int classes,
      double guidance,
      EvalSettings settings,
      IntConsumer progress) {
    checkArgument(
        classes == 0 || Double.isFinite(guidance) && guidance >= 0,
        "--guidance must be >= 0, got %s",
        guidance);
    int n = settings.n();
    int[] requested = new int[classes > 0 ? n : 0];
    int per = 0;
    float[] all = null;
    long start = System.nanoTime();
    for (int from = 0; from < n; from += settings.batchSize()) {
      int count = Math.min(settings.batchSize(), n - from);
      long[] seeds = new long[count];
      int[] labels = new int[classes > 0 ? count : 0];
      float[] scales = new float[labels.length];
      for (int i = 0; i < count; i++) {
        seeds[i] = settings.seed() + from + i;
        if (classes > 0) {
          labels[i] = (from + i) % classes;
          scales[i] = (float) guidance;
          requested[from + i] = labels[i];
        }
      }
      float[] images = generator.generate(seeds, labels, scales);
      if (all == null) {
        per = images.length / count;
        all = new float[n * per];
      }
      System.arraycopy(images, 0, all, from * per, images.length);
      progress.accept(from + count);
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    quantise(all);
    Classifier.Embedding e = classifier.embed(all, n);
    return figures(e, classes > 0 ? Optional.of(requested) : Optional.empty(), settings, seconds);
  }

  private Figures figures(
      Classifier.Embedding e, Optional<int[]> labels, EvalSettings settings, double seconds) {
    double fd = FrechetDistance.between(GaussianStats.fit(e.features()), testStats);
    KernelInceptionDistance.Result kid =
        KernelInceptionDistance.compute(
            e.features(),
            testFeatures,
            settings.kidSubsets(),
            settings.kidSubsetSize(),
            settings.seed() + KID_SEED_OFFSET);
    return new Figures(
        e.predicted().length,
        fd,
        kid.mean(),
        kid.std(),
        labels.map(e::accuracy),
        e.histogram(),
        seconds);
  }

  /** [0, 1] → 8 bits → [-1, 1], in place. */
  static void quantise(float[] unit) {
    for (int i = 0; i < unit.length; i++) {
      float p = Math.max(0f, Math.min(1f, unit[i]));
      unit[i] = (float) (Math.round(p * MAX_PIXEL) / HALF_RANGE - 1.0);
    }
  }
}
