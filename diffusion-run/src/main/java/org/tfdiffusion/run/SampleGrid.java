package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * A grid of images as 8-bit pixels: images in [0, 1] (row-major [B, H, W, C], C = 1 or 3) laid out
 * left to right, top to bottom with a 2-pixel border, and written as PNG.
 *
 * @param pixels the grid, row-major [height, width, channels]
 */
public record SampleGrid(byte[] pixels, int height, int width, int channels) {
  /** The border between images, in pixels. */
  public static final int BORDER = 2;

  /** The smallest cell, in pixels, that {@link #defaultScale} upscales images to. */
  public static final int MIN_CELL = 56;

  /**
   * Lays out {@code count} images in {@code columns} columns at their own size.
   *
   * @param images values in [0, 1], [count, h, w, c] row-major
   */
  public static SampleGrid of(float[] images, int count, int h, int w, int c, int columns) {
    return of(images, count, h, w, c, columns, 1, java.util.List.of());
  }

  /** The upscale factor that makes a cell of an h-pixel image at least {@link #MIN_CELL} pixels. */
  public static int defaultScale(int h) {
    return Math.max(1, (MIN_CELL + h - 1) / h);
  }

  /**
   * Lays out {@code count} images in {@code columns} columns, each pixel drawn as a {@code scale} ×
   * {@code scale} block (nearest neighbour), with {@code rowLabels} (one per grid row, or none)
   * written left of the rows on the grid's black background.
   *
   * @param images values in [0, 1], [count, h, w, c] row-major
   */
  public static SampleGrid of(
      float[] images,
      int count,
      int h,
      int w,
      int c,
      int columns,
      int scale,
      java.util.List<String> rowLabels) {
    checkArgument(c == 1 || c == 3, "a grid needs 1 or 3 channels, got %s", c);
    checkArgument(images.length == count * h * w * c, "expected %s values", count * h * w * c);
    checkArgument(columns >= 1, "columns must be >= 1");
    checkArgument(scale >= 1 && scale <= 64, "--scale must be in [1, 64], got %s", scale);
    int rows = (count + columns - 1) / columns;
    checkArgument(
        rowLabels.isEmpty() || rowLabels.size() == rows,
        "%s row labels for a grid of %s rows",
        rowLabels.size(),
        rows);
    int cellH = h * scale;
    int cellW = w * scale;
    int fontScale = Math.max(1, Math.min(scale, cellH / (2 * BitmapFont.HEIGHT)));
    int labelWidth = 0;
    for (String label : rowLabels) {
      labelWidth = Math.max(labelWidth, BitmapFont.width(label, fontScale));
    }
    int margin = labelWidth > 0 ? labelWidth + 2 * LABEL_PAD * fontScale : 0;
    int gridH = rows * cellH + (rows + 1) * BORDER;
    int gridW = margin + columns * cellW + (columns + 1) * BORDER;
    byte[] out = new byte[gridH * gridW * c];
    for (int i = 0; i < count; i++) {
      int top = BORDER + (i / columns) * (cellH + BORDER);
      int left = margin + BORDER + (i % columns) * (cellW + BORDER);
      for (int y = 0; y < cellH; y++) {
        for (int x = 0; x < cellW; x++) {
          for (int k = 0; k < c; k++) {
            float v = images[((i * h + y / scale) * w + x / scale) * c + k];
            int b = Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
            out[((top + y) * gridW + left + x) * c + k] = (byte) b;
          }
        }
      }
    }
    for (int r = 0; r < rowLabels.size(); r++) {
      String label = rowLabels.get(r);
      int top = BORDER + r * (cellH + BORDER) + (cellH - BitmapFont.HEIGHT * fontScale) / 2;
      int left = margin - LABEL_PAD * fontScale - BitmapFont.width(label, fontScale);
      BitmapFont.draw(out, gridH, gridW, c, label, left, top, fontScale, (byte) LABEL_VALUE);
    }
    return new SampleGrid(out, gridH, gridW, c);
  }

  /** Space left and right of a row label, in font pixels. */
  private static final int LABEL_PAD = 3;

  /** The labels' gray level. */
  private static final int LABEL_VALUE = 230;

  /**
   * One image on its own, without the grid's border, each pixel drawn as a {@code scale} × {@code
   * scale} block (nearest neighbour): a file of the model's size at scale 1, which an edit can read
   * back as its init image.
   *
   * @param image values in [0, 1], [h, w, c] row-major
   */
  public static SampleGrid single(float[] image, int h, int w, int c, int scale) {
    SampleGrid g = of(image, 1, h, w, c, 1, scale, java.util.List.of());
    int outH = h * scale;
    int outW = w * scale;
    byte[] out = new byte[outH * outW * c];
    for (int y = 0; y < outH; y++) {
      System.arraycopy(
          g.pixels(), ((y + BORDER) * g.width() + BORDER) * c, out, y * outW * c, outW * c);
    }
    return new SampleGrid(out, outH, outW, c);
  }

  /** A square-ish grid: ⌈√count⌉ columns. */
  public static SampleGrid square(float[] images, int count, int h, int w, int c) {
    return of(images, count, h, w, c, (int) Math.ceil(Math.sqrt(count)));
  }

  /** The grid as an image. */
  public BufferedImage toImage() {
    BufferedImage image =
        new BufferedImage(
            width,
            height,
            channels == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int i = (y * width + x) * channels;
        if (channels == 1) {
          int g = pixels[i] & 0xff;
          image.getRaster().setSample(x, y, 0, g);
        } else {
          int rgb = (pixels[i] & 0xff) << 16 | (pixels[i + 1] & 0xff) << 8 | (pixels[i + 2] & 0xff);
          image.setRGB(x, y, rgb);
        }
      }
    }
    return image;
  }

  /** Writes the grid as PNG, atomically and durably ({@link DurableFiles#replace}). */
  public void writePng(Path file) {
    try {
      DurableFiles.replace(
          file,
          tmp -> {
            if (!ImageIO.write(toImage(), "png", tmp.toFile())) {
              throw new IOException("no PNG writer available");
            }
          });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
