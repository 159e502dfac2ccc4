package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Objects;

/**
 * One training batch, immutable (arrays are copied in and out).
 *
 * @param images {@code batchSize × height × width × channels} floats in [-1, 1], row-major NHWC
 * @param labels the class label of each image, or an empty array when the dataset is unlabelled
 * @param batchSize the number of images
 * @param height image height
 * @param width image width
 * @param channels 1 (grayscale) or 3 (RGB)
 * @param indices the dataset index of each image, for logs and tests
 * @param flipped whether each image was mirrored left-right
 */
public record Batch(
    float[] images,
    int[] labels,
    int batchSize,
    int height,
    int width,
    int channels,
    int[] indices,
    boolean[] flipped) {

  public Batch {
    checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
    checkArgument(
        images.length == (long) batchSize * height * width * channels,
        "%s image values are not %s images of %sx%sx%s",
        images.length,
        batchSize,
        height,
        width,
        channels);
    checkArgument(
        labels.length == 0 || labels.length == batchSize,
        "need %s labels (or none for an unlabelled batch), got %s",
        batchSize,
        labels.length);
    checkArgument(
        indices.length == batchSize && flipped.length == batchSize,
        "need %s indices and flip flags, got %s and %s",
        batchSize,
        indices.length,
        flipped.length);
    images = images.clone();
    labels = labels.clone();
    indices = indices.clone();
    flipped = flipped.clone();
  }

  /** A copy of the images, NHWC in [-1, 1]. */
  @Override
  public float[] images() {
    return images.clone();
  }

  /** A copy of the labels; empty when unlabelled. */
  @Override
  public int[] labels() {
    return labels.clone();
  }

  @Override
  public int[] indices() {
    return indices.clone();
  }

  @Override
  public boolean[] flipped() {
    return flipped.clone();
  }

  /** Whether the batch carries labels. */
  public boolean labelled() {
    return labels.length > 0;
  }

  /** The NHWC shape: {batchSize, height, width, channels}. */
  public long[] shape() {
    return new long[] {batchSize, height, width, channels};
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Batch b
        && batchSize == b.batchSize
        && height == b.height
        && width == b.width
        && channels == b.channels
        && Arrays.equals(images, b.images)
        && Arrays.equals(labels, b.labels)
        && Arrays.equals(indices, b.indices)
        && Arrays.equals(flipped, b.flipped);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        batchSize,
        height,
        width,
        channels,
        Arrays.hashCode(images),
        Arrays.hashCode(labels),
        Arrays.hashCode(indices),
        Arrays.hashCode(flipped));
  }

  @Override
  public String toString() {
    return String.format(
        "Batch[%d x %dx%dx%d, %s, indices %s]",
        batchSize,
        height,
        width,
        channels,
        labelled() ? "labels " + Arrays.toString(labels) : "unlabelled",
        Arrays.toString(indices));
  }
}
