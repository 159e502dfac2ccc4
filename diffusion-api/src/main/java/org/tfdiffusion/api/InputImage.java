package org.tfdiffusion.api;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.file.Path;
import org.tfdiffusion.data.PixelImage;

/**
 * An image given to an edit: the image that image-to-image or inpainting starts from, or an
 * inpainting mask (white = regenerate, black = keep, grays blend). Pixels in [0, 1], row-major
 * [height, width, channels], 1 (gray) or 3 (RGB) channels.
 *
 * <p>A {@link Generator} brings the channels to the model's as training does (gray replicated into
 * RGB, RGB to BT.601 luma {@code 0.299 R + 0.587 G + 0.114 B}); the size must be the model's.
 *
 * @param height pixels
 * @param width pixels
 * @param channels 1 or 3
 * @param pixels values in [0, 1]
 */
public record InputImage(int height, int width, int channels, float[] pixels) {
  /** BT.601 luma weights of R, G and B. */
  private static final double[] LUMA = {0.299, 0.587, 0.114};

  public InputImage {
    checkArgument(height >= 1 && width >= 1, "an image needs pixels, got %sx%s", height, width);
    checkArgument(
        channels == 1 || channels == 3,
        "an image has 1 (gray) or 3 (RGB) channels, got %s",
        channels);
    checkArgument(
        pixels.length == height * width * channels,
        "%s pixels for a %sx%sx%s image",
        pixels.length,
        height,
        width,
        channels);
    for (int i = 0; i < pixels.length; i++) {
      if (!(pixels[i] >= 0 && pixels[i] <= 1)) {
        throw new IllegalArgumentException(
            String.format(
                "pixel values must be in [0, 1], got %s at index %s: divide 8-bit pixels by 255",
                pixels[i], i));
      }
    }
    pixels = pixels.clone();
  }

  /**
   * Reads a PNG (or an 8-bit JPEG): gray images get 1 channel, others 3 (alpha dropped).
   *
   * @throws IllegalArgumentException naming the file when it is missing or no image
   */
  public static InputImage read(Path file) {
    PixelImage image = PixelImage.read(file, "image");
    return new InputImage(image.height(), image.width(), image.channels(), image.unitRange());
  }

  /** A generated image, to edit further. */
  public static InputImage of(GeneratedImage image) {
    return new InputImage(image.height(), image.width(), image.channels(), image.pixels());
  }

  @Override
  public float[] pixels() {
    return pixels.clone();
  }

  /** Whether every pixel is a gray: one channel, or three equal ones. */
  boolean isGray() {
    if (channels == 1) {
      return true;
    }
    for (int p = 0; p < pixels.length; p += 3) {
      if (pixels[p] != pixels[p + 1] || pixels[p] != pixels[p + 2]) {
        return false;
      }
    }
    return true;
  }

  /**
   * The pixels in a model's shape, for messages naming the image {@code role}.
   *
   * @throws IllegalArgumentException when the size is not {@code size} × {@code size}
   */
  float[] toModel(String role, int size, int modelChannels) {
    checkArgument(
        height == size && width == size,
        "the %s is %sx%s but the model makes %sx%s images: resize it to the model's size",
        role,
        height,
        width,
        size,
        size);
    if (channels == modelChannels) {
      return pixels.clone();
    }
    int count = height * width;
    float[] out = new float[count * modelChannels];
    for (int p = 0; p < count; p++) {
      if (channels == 1) {
        out[3 * p] = pixels[p];
        out[3 * p + 1] = pixels[p];
        out[3 * p + 2] = pixels[p];
      } else {
        double luma =
            LUMA[0] * pixels[3 * p] + LUMA[1] * pixels[3 * p + 1] + LUMA[2] * pixels[3 * p + 2];
        out[p] = (float) Math.min(1, luma);
      }
    }
    return out;
  }
}
