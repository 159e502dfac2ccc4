package org.tfdiffusion.api;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Optional;
import javax.imageio.ImageIO;
import org.tfdiffusion.run.SampleGrid;

/**
 * One generated image: its seed, its class (for class-conditional models) and its pixels in [0, 1],
 * row-major [height, width, channels].
 *
 * @param seed the seed it was generated from (the same seed gives the same image)
 * @param className the class it was asked for, if any
 * @param height pixels
 * @param width pixels
 * @param channels 1 (gray) or 3 (RGB)
 * @param pixels values in [0, 1]
 */
public record GeneratedImage(
    long seed, Optional<String> className, int height, int width, int channels, float[] pixels) {
  public GeneratedImage {
    checkArgument(
        pixels.length == height * width * channels,
        "%s pixels for a %sx%sx%s image",
        pixels.length,
        height,
        width,
        channels);
    pixels = pixels.clone();
  }

  @Override
  public float[] pixels() {
    return pixels.clone();
  }

  /** The image as PNG bytes, at its own size. */
  public byte[] png() {
    try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
      ImageIO.write(grid(1).toImage(), "png", out);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode a PNG", e);
    }
  }

  /** Writes the image as a PNG file, upscaled {@code scale} times (nearest neighbour). */
  public void writePng(Path file, int scale) {
    grid(scale).writePng(file);
  }

  /** Writes the image as a PNG file at its own size. */
  public void writePng(Path file) {
    writePng(file, 1);
  }

  private SampleGrid grid(int scale) {
    return SampleGrid.single(pixels, height, width, channels, scale);
  }
}
