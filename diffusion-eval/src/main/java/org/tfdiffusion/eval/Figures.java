package org.tfdiffusion.eval;

import java.util.Optional;

/**
 * The quality figures of one image set against the real test split.
 *
 * @param images how many images were judged
 * @param fd the Fréchet distance between Gaussians fitted to the classifier's features
 * @param kidMean KID: mean of the unbiased MMD² over the subsets
 * @param kidStd KID: standard deviation over the subsets
 * @param classAccuracy how often the classifier names the requested (or, for real images, the true)
 *     class; empty for an unconditional model
 * @param histogram how many images the classifier put in each class
 * @param seconds the time to generate the images (0 for real images)
 */
public record Figures(
    int images,
    double fd,
    double kidMean,
    double kidStd,
    Optional<Double> classAccuracy,
    int[] histogram,
    double seconds) {
  public Figures {
    histogram = histogram.clone();
  }

  @Override
  public int[] histogram() {
    return histogram.clone();
  }

  /** Generation time per 1000 images. */
  public double secondsPer1000() {
    return images == 0 ? 0 : seconds * 1000.0 / images;
  }
}
