package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

import org.tensorflow.ndarray.Shape;

/**
 * The checks on what an edit is given, each failing with an {@link IllegalArgumentException} whose
 * one-line message names the problem and the fix: graph shapes when an edit is built (a dimension
 * of {@link Shape#UNKNOWN_SIZE} passes), Java values before they are fed. Images are [B, H, W, C]
 * in the model's range [-1, 1]; masks are [B or 1, H, W, 1 or C] in [0, 1], 1 = regenerate, 0 =
 * keep.
 */
public final class EditImages {
  /** The model's data range is [-1, 1]. */
  public static final double DATA_RANGE = 1;

  private EditImages() {}

  /**
   * Checks an image's shape against the model's image shape.
   *
   * @param role what the image is, for the message ("init image", "image to inpaint")
   * @param image [B, H, W, C]
   * @param imageShape the model's [H, W, C]
   */
  public static void checkImage(String role, Shape image, Shape imageShape) {
    checkArgument(
        image.numDimensions() == 4,
        "the %s must be a batch [B, H, W, C] (a leading axis of 1 for one image), got shape %s",
        role,
        image);
    long h = imageShape.get(0);
    long w = imageShape.get(1);
    long c = imageShape.get(2);
    checkArgument(
        fits(image.get(1), h) && fits(image.get(2), w),
        "the %s is %s×%s but the model makes %s×%s images: resize it to %s×%s",
        role,
        image.get(1),
        image.get(2),
        h,
        w,
        h,
        w);
    checkArgument(
        fits(image.get(3), c),
        "the %s has %s but the model makes %s-channel images: convert it to %s",
        role,
        channels(image.get(3)),
        c,
        c == 1 ? "grayscale" : c == 3 ? "RGB" : c + " channels");
  }

  /**
   * Checks that an image batch fits the rows (seeds): one image for every row, or one per row.
   *
   * @param rows the number of seeds, or {@link Shape#UNKNOWN_SIZE}
   */
  public static void checkRows(String role, Shape image, long rows) {
    long b = image.get(0);
    checkArgument(
        b == Shape.UNKNOWN_SIZE || rows == Shape.UNKNOWN_SIZE || b == 1 || b == rows,
        "the %s batch holds %s images but there are %s seeds: give one image (used for every seed)"
            + " or one per seed",
        role,
        b,
        rows);
  }

  /**
   * Checks a mask's shape against its image's: the same height and width, 1 channel (the same for
   * every channel) or the image's channels, 1 mask or one per image.
   *
   * @param mask [B or 1, H, W, 1 or C]
   * @param image [B, H, W, C]
   */
  public static void checkMask(Shape mask, Shape image) {
    checkArgument(
        mask.numDimensions() == 4,
        "the mask must be [B, H, W, 1] like its image (a leading axis of 1 for one mask), got"
            + " shape %s",
        mask);
    checkArgument(
        fits(mask.get(1), image.get(1)) && fits(mask.get(2), image.get(2)),
        "the mask is %s×%s but the image is %s×%s: give a mask of the image's size",
        mask.get(1),
        mask.get(2),
        image.get(1),
        image.get(2));
    long c = mask.get(3);
    long imageChannels = image.get(3);
    checkArgument(
        c == Shape.UNKNOWN_SIZE || c == 1 || fits(c, imageChannels),
        "the mask has %s but the image has %s: give %s",
        channels(c),
        imageChannels,
        imageChannels == 1
            ? "a 1-channel mask"
            : "1 channel (the same for every channel) or " + imageChannels);
    long b = mask.get(0);
    checkArgument(
        b == Shape.UNKNOWN_SIZE || b == 1 || fits(b, image.get(0)),
        "there are %s masks for %s images: give 1 mask (used for every image) or one per image",
        b,
        image.get(0));
  }

  /**
   * Checks image values: finite and in [-1, 1], the model's range.
   *
   * @throws IllegalArgumentException naming the first bad value and its index
   */
  public static void checkImageValues(String role, float[] values) {
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      if (!(Math.abs(v) <= DATA_RANGE)) {
        throw new IllegalArgumentException(
            String.format(
                "the %s's values must be in [-1, 1], the model's range, got %s at index %s: map"
                    + " pixels p in [0, 1] to 2p - 1 (fromUnitRange), 8-bit pixels to p / 127.5 - 1",
                role, v, i));
      }
    }
  }

  /**
   * Checks mask values: in [0, 1], 1 = regenerate, 0 = keep (values between blend the two).
   *
   * @throws IllegalArgumentException naming the first bad value and its index
   */
  public static void checkMaskValues(float[] values) {
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      if (!(v >= 0 && v <= 1)) {
        throw new IllegalArgumentException(
            String.format(
                "mask values must be in [0, 1] (1 = regenerate, 0 = keep), got %s at index %s:"
                    + " divide 8-bit masks by 255",
                v, i));
      }
    }
  }

  /**
   * Maps pixels from [0, 1] (as read from a PNG) to the model's [-1, 1], {@code 2p - 1}: the
   * inverse of {@code SamplingLoop.toUnitRange}.
   *
   * @throws IllegalArgumentException for a value outside [0, 1]
   */
  public static float[] fromUnitRange(float[] pixels) {
    float[] out = new float[pixels.length];
    for (int i = 0; i < pixels.length; i++) {
      float p = pixels[i];
      if (!(p >= 0 && p <= 1)) {
        throw new IllegalArgumentException(
            String.format(
                "pixel values must be in [0, 1], got %s at index %s: divide 8-bit pixels by 255",
                p, i));
      }
      out[i] = 2 * p - 1;
    }
    return out;
  }

  private static String channels(long count) {
    return count == 1 ? "1 channel" : count + " channels";
  }

  private static boolean fits(long given, long expected) {
    return given == Shape.UNKNOWN_SIZE || expected == Shape.UNKNOWN_SIZE || given == expected;
  }
}
