package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkElementIndex;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkPositionIndexes;

import com.google.common.collect.ImmutableList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;

/**
 * An immutable in-memory image dataset: {@code size()} images of {@code height × width × channels},
 * optional class labels, class names and a human description of where the data came from.
 *
 * <p>Pixels are stored as 8-bit values (0..255), row-major NHWC, and scaled on read to the model's
 * range [-1, 1] by {@code x / 127.5 - 1}: 0 becomes -1, 255 becomes 1. Storing bytes keeps the full
 * Fashion-MNIST training split (60000 × 28 × 28) at 47 MB instead of 188 MB of floats.
 *
 * <p>Labels, when present, are in {@code [0, numClasses())}; {@code classNames().get(k)} names
 * class k. An unlabelled dataset has no labels and no class names.
 */
public final class ImageDataset {
  /** The largest 8-bit pixel value. */
  public static final int MAX_PIXEL = 255;

  /** {@code x / 127.5 - 1} for every 8-bit value x: exact at 0 (-1), 127.5 (0) and 255 (1). */
  private static final float[] SCALE = new float[MAX_PIXEL + 1];

  static {
    for (int v = 0; v <= MAX_PIXEL; v++) {
      SCALE[v] = (float) (v / (MAX_PIXEL / 2.0) - 1.0);
    }
  }

  private final int size;
  private final int height;
  private final int width;
  private final int channels;
  private final byte[] pixels;
  private final int[] labels; // null when unlabelled
  private final ImmutableList<String> classNames;
  private final String description;

  private ImageDataset(
      int height,
      int width,
      int channels,
      byte[] pixels,
      int[] labels,
      List<String> classNames,
      String description) {
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.pixels = pixels;
    this.size = pixels.length / valuesPerImage();
    this.labels = labels;
    this.classNames = ImmutableList.copyOf(classNames);
    this.description = description;
  }

  /**
   * A labelled dataset; copies its arrays.
   *
   * @param pixels {@code n × height × width × channels} 8-bit values (0..255 as unsigned bytes),
   *     row-major NHWC
   * @param labels n labels, each in {@code [0, classNames.size())}
   * @param classNames the name of each class, distinct
   * @param description where the data came from, for logs
   * @throws IllegalArgumentException if the sizes do not match or a label is out of range
   */
  public static ImageDataset labelled(
      int height,
      int width,
      int channels,
      byte[] pixels,
      int[] labels,
      List<String> classNames,
      String description) {
    checkNotNull(labels, "labels must not be null; use ImageDataset.unlabelled for no labels");
    return create(height, width, channels, pixels.clone(), labels.clone(), classNames, description);
  }

  /**
   * An unlabelled dataset; copies its array.
   *
   * @param pixels {@code n × height × width × channels} 8-bit values, row-major NHWC
   * @param description where the data came from, for logs
   */
  public static ImageDataset unlabelled(
      int height, int width, int channels, byte[] pixels, String description) {
    return create(height, width, channels, pixels.clone(), null, List.of(), description);
  }

  /** Like the public factories but takes ownership of the arrays (no copies). */
  static ImageDataset create(
      int height,
      int width,
      int channels,
      byte[] pixels,
      int[] labels,
      List<String> classNames,
      String description) {
    checkArgument(
        height >= 1 && width >= 1, "image size must be positive, got %sx%s", height, width);
    checkArgument(
        channels == 1 || channels == 3,
        "channels must be 1 (grayscale) or 3 (RGB), got %s",
        channels);
    checkNotNull(pixels, "pixels must not be null");
    checkNotNull(description, "description must not be null");
    long perImage = (long) height * width * channels;
    checkArgument(
        pixels.length % perImage == 0,
        "%s pixel values are not a whole number of %sx%sx%s images",
        pixels.length,
        height,
        width,
        channels);
    int n = (int) (pixels.length / perImage);
    checkArgument(n >= 1, "a dataset needs at least one image (%s)", description);
    if (labels == null) {
      checkArgument(
          classNames.isEmpty(), "an unlabelled dataset has no class names, got %s", classNames);
    } else {
      checkArgument(
          labels.length == n,
          "%s images but %s labels; give one label per image",
          n,
          labels.length);
      checkArgument(!classNames.isEmpty(), "a labelled dataset needs class names");
      checkArgument(
          new HashSet<>(classNames).size() == classNames.size(),
          "class names must be distinct, got %s",
          classNames);
      for (int i = 0; i < n; i++) {
        checkArgument(
            labels[i] >= 0 && labels[i] < classNames.size(),
            "label %s of image %s is outside [0, %s) (classes %s)",
            labels[i],
            i,
            classNames.size(),
            classNames);
      }
    }
    return new ImageDataset(height, width, channels, pixels, labels, classNames, description);
  }

  /** The model-range value of an 8-bit pixel value: {@code v / 127.5 - 1}, in [-1, 1]. */
  public static float toModelRange(int value) {
    checkElementIndex(value, MAX_PIXEL + 1, "pixel value");
    return SCALE[value];
  }

  /** The number of images. */
  public int size() {
    return size;
  }

  public int height() {
    return height;
  }

  public int width() {
    return width;
  }

  /** 1 for grayscale, 3 for RGB. */
  public int channels() {
    return channels;
  }

  /** {@code height × width × channels}: the floats one image fills. */
  public int valuesPerImage() {
    return height * width * channels;
  }

  /** Whether every image has a class label. */
  public boolean labelled() {
    return labels != null;
  }

  /** The number of classes; 0 when unlabelled. */
  public int numClasses() {
    return classNames.size();
  }

  /** The class names, index = label; empty when unlabelled. */
  public List<String> classNames() {
    return classNames;
  }

  /** Where the data came from, e.g. {@code Fashion-MNIST t10k split from /usr/share/...}. */
  public String description() {
    return description;
  }

  /**
   * The label of image {@code i}.
   *
   * @throws IllegalStateException if the dataset is unlabelled
   */
  public int label(int i) {
    checkElementIndex(i, size, "image index");
    if (labels == null) {
      throw new IllegalStateException(
          "dataset '" + description + "' has no labels; check labelled() first");
    }
    return labels[i];
  }

  /** A copy of all labels, or empty when unlabelled. */
  public Optional<int[]> labels() {
    return labels == null ? Optional.empty() : Optional.of(labels.clone());
  }

  /** How many images each class has; empty when unlabelled. */
  public int[] classCounts() {
    int[] counts = new int[numClasses()];
    if (labels != null) {
      for (int label : labels) {
        counts[label]++;
      }
    }
    return counts;
  }

  /** The 8-bit value (0..255) of image {@code i} at row y, column x, channel c. */
  public int pixel(int i, int y, int x, int c) {
    checkElementIndex(i, size, "image index");
    checkElementIndex(y, height, "row");
    checkElementIndex(x, width, "column");
    checkElementIndex(c, channels, "channel");
    return pixels[offset(i) + (y * width + x) * channels + c] & 0xFF;
  }

  /** A copy of the 8-bit values of image {@code i}, {@code height × width × channels}. */
  public byte[] pixels(int i) {
    checkElementIndex(i, size, "image index");
    int from = offset(i);
    return Arrays.copyOfRange(pixels, from, from + valuesPerImage());
  }

  /**
   * Writes image {@code i}, scaled to [-1, 1], into {@code dst[offset ..]} as {@code height × width
   * × channels} floats (HWC).
   *
   * @param flip whether to mirror the image left-right (column x goes to column width - 1 - x)
   */
  public void copyImage(int i, float[] dst, int offset, boolean flip) {
    checkElementIndex(i, size, "image index");
    checkPositionIndexes(offset, offset + valuesPerImage(), dst.length);
    int src = offset(i);
    int rowValues = width * channels;
    for (int y = 0; y < height; y++) {
      int rowSrc = src + y * rowValues;
      int rowDst = offset + y * rowValues;
      if (!flip) {
        for (int k = 0; k < rowValues; k++) {
          dst[rowDst + k] = SCALE[pixels[rowSrc + k] & 0xFF];
        }
      } else {
        for (int x = 0; x < width; x++) {
          int from = rowSrc + (width - 1 - x) * channels;
          int to = rowDst + x * channels;
          for (int c = 0; c < channels; c++) {
            dst[to + c] = SCALE[pixels[from + c] & 0xFF];
          }
        }
      }
    }
  }

  /** Image {@code i} scaled to [-1, 1], {@code height × width × channels} floats. */
  public float[] image(int i) {
    float[] out = new float[valuesPerImage()];
    copyImage(i, out, 0, false);
    return out;
  }

  /** The first {@code n} images (and labels), same classes, description noting the cut. */
  public ImageDataset first(int n) {
    checkArgument(n >= 1 && n <= size, "n must be in [1, %s], got %s", size, n);
    if (n == size) {
      return this;
    }
    return new ImageDataset(
        height,
        width,
        channels,
        Arrays.copyOf(pixels, n * valuesPerImage()),
        labels == null ? null : Arrays.copyOf(labels, n),
        classNames,
        description + ", first " + n);
  }

  /** The raw array, not copied: for this package's fitting code, which never writes to it. */
  byte[] rawPixels() {
    return pixels;
  }

  /** The raw labels, not copied, or null. */
  int[] rawLabels() {
    return labels;
  }

  private int offset(int i) {
    return i * valuesPerImage();
  }

  /** E.g. {@code 2000 images 28x28x1, 10 classes: Fashion-MNIST ...}. */
  @Override
  public String toString() {
    return String.format(
        "%d images %dx%dx%d, %s: %s",
        size,
        height,
        width,
        channels,
        labelled() ? numClasses() + " classes" : "unlabelled",
        description);
  }
}
