package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * One image at 8 bits, grayscale (1 channel) or RGB (3), row-major [height, width, channels], as
 * image folders read it: an image counts as grayscale when its colour model has one colour
 * component (or a palette of grays), else as RGB; alpha is dropped (the stored colour is kept);
 * 16-bit samples are rounded down to 8 bits. Images given to an edit (an init image, a mask) are
 * read this way and brought to the model's shape with the same {@link ImageFit} as training data.
 *
 * @param height pixels
 * @param width pixels
 * @param channels 1 or 3
 * @param pixels 0..255 as unsigned bytes, {@code height · width · channels} of them
 */
public record PixelImage(int height, int width, int channels, byte[] pixels) {
  public PixelImage {
    checkArgument(height >= 1 && width >= 1, "an image needs pixels, got %sx%s", height, width);
    checkArgument(channels == 1 || channels == 3, "1 or 3 channels, got %s", channels);
    checkArgument(
        pixels.length == height * width * channels,
        "%s values for a %sx%sx%s image",
        pixels.length,
        height,
        width,
        channels);
  }

  /**
   * Reads an image file (PNG, or 8-bit RGB or grayscale JPEG).
   *
   * @param role what the image is for, in messages ("init image", "mask")
   * @throws IllegalArgumentException with a one-line message naming the file when it is missing or
   *     no image
   */
  public static PixelImage read(Path file, String role) {
    checkArgument(Files.isRegularFile(file), "the %s %s does not exist", role, file);
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          String.format("cannot read the %s %s: %s", role, file, e.getMessage()), e);
    }
    return decode(bytes, role + " " + file);
  }

  /**
   * Decodes image file bytes (PNG, or 8-bit RGB or grayscale JPEG).
   *
   * @param name how messages name the image, e.g. {@code "init image photo.png"}
   * @throws IllegalArgumentException with a one-line message when the bytes are no image
   */
  public static PixelImage decode(byte[] bytes, String name) {
    BufferedImage image;
    try {
      image = ImageIO.read(new ByteArrayInputStream(bytes));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          String.format(
              "the %s is no readable image (%s): give a PNG, or an 8-bit RGB or grayscale JPEG",
              name, e.getMessage()),
          e);
    }
    checkArgument(
        image != null,
        "the %s is no image that a PNG or JPEG decoder recognises: give a PNG, or an 8-bit RGB or"
            + " grayscale JPEG",
        name);
    return of(image);
  }

  /** The pixels of a decoded image, gray or RGB (see the class comment). */
  public static PixelImage of(BufferedImage image) {
    int h = image.getHeight();
    int w = image.getWidth();
    ColorModel cm = image.getColorModel();
    if (isGray(cm)) {
      byte[] out = new byte[h * w];
      if (cm instanceof IndexColorModel) {
        for (int y = 0; y < h; y++) {
          for (int x = 0; x < w; x++) {
            out[y * w + x] = (byte) image.getRGB(x, y);
          }
        }
      } else {
        Raster raster = image.getRaster();
        int max = (1 << cm.getComponentSize(0)) - 1;
        for (int y = 0; y < h; y++) {
          for (int x = 0; x < w; x++) {
            int v = raster.getSample(x, y, 0);
            out[y * w + x] = (byte) (max == ImageDataset.MAX_PIXEL ? v : v * 255 / max);
          }
        }
      }
      return new PixelImage(h, w, 1, out);
    }
    int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
    byte[] out = new byte[h * w * 3];
    for (int p = 0; p < argb.length; p++) {
      out[3 * p] = (byte) (argb[p] >> 16);
      out[3 * p + 1] = (byte) (argb[p] >> 8);
      out[3 * p + 2] = (byte) argb[p];
    }
    return new PixelImage(h, w, 3, out);
  }

  /** One colour component, or a palette whose entries are all gray. */
  private static boolean isGray(ColorModel cm) {
    if (cm instanceof IndexColorModel icm) {
      for (int k = 0; k < icm.getMapSize(); k++) {
        if (icm.getRed(k) != icm.getGreen(k) || icm.getRed(k) != icm.getBlue(k)) {
          return false;
        }
      }
      return true;
    }
    return cm.getNumColorComponents() == 1;
  }

  /** Whether every pixel is a gray: one channel, or three equal ones. */
  public boolean isGray() {
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

  /** Whether the image already has the model's square size. */
  public boolean hasSize(int size) {
    return height == size && width == size;
  }

  /**
   * This image brought to {@code fit}'s size and channels, as training data is: channels converted
   * (gray replicated into RGB, or RGB to BT.601 luma), then the size by the fit's mode, {@link
   * FitMode#AUTO} center-cropping as for image folders. An image of the model's size is only
   * converted.
   *
   * @throws IllegalArgumentException when padding an image larger than the model
   */
  public PixelImage fit(ImageFit fit) {
    FitMode mode =
        hasSize(fit.imageSize()) ? FitMode.RESIZE : fit.resolve(height, width, /* folder */ true);
    byte[] out = new byte[fit.imageSize() * fit.imageSize() * fit.channels()];
    try {
      fit.fitInto(pixels, 0, height, width, channels, mode, "the image", out, 0);
    } catch (DataException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    return new PixelImage(fit.imageSize(), fit.imageSize(), fit.channels(), out);
  }

  /** The fit mode {@code fit} applies to this image (AUTO resolved), for messages. */
  public String describeFit(ImageFit fit) {
    FitMode mode = hasSize(fit.imageSize()) ? FitMode.RESIZE : fit.resolve(height, width, true);
    if (hasSize(fit.imageSize())) {
      return channels == fit.channels()
          ? "used as it is"
          : channels == 3 ? "RGB converted to grayscale (BT.601 luma)" : "gray replicated into RGB";
    }
    return fit.describe(mode, height, width, channels);
  }

  /** The pixels as values in [0, 1] ({@code p / 255}), row-major [height, width, channels]. */
  public float[] unitRange() {
    float[] out = new float[pixels.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = (pixels[i] & 0xff) / (float) ImageDataset.MAX_PIXEL;
    }
    return out;
  }

  /** E.g. {@code 48×64 RGB} (height × width). */
  public String describe() {
    return height + "×" + width + (channels == 1 ? " grayscale" : " RGB");
  }
}
