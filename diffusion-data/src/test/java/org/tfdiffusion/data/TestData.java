package org.tfdiffusion.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;

/** Writes small data files for the tests, by hand (independently of the code under test). */
final class TestData {
  private TestData() {}

  /** An IDX file: big-endian magic, dimensions, then the bytes. */
  static byte[] idx(int magic, int[] dims, byte[] body) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(magic);
      for (int d : dims) {
        out.writeInt(d);
      }
      out.write(body);
    }
    return bytes.toByteArray();
  }

  /** {@code n} images of h×w where pixel (y, x) of image i is {@code (i * 7 + y * w + x) % 256}. */
  static byte[] pattern(int n, int h, int w) {
    byte[] pixels = new byte[n * h * w];
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < h * w; p++) {
        pixels[i * h * w + p] = (byte) ((i * 7 + p) % 256);
      }
    }
    return pixels;
  }

  static byte[] imagesFile(int n, int h, int w) throws IOException {
    return idx(0x00000803, new int[] {n, h, w}, pattern(n, h, w));
  }

  static byte[] labelsFile(int... labels) throws IOException {
    byte[] body = new byte[labels.length];
    for (int i = 0; i < labels.length; i++) {
      body[i] = (byte) labels[i];
    }
    return idx(0x00000801, new int[] {labels.length}, body);
  }

  static byte[] gzip(byte[] data) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (OutputStream out = new GZIPOutputStream(bytes)) {
      out.write(data);
    }
    return bytes.toByteArray();
  }

  /** Writes {@code data} to {@code folder/name} (gzipped when the name ends in .gz). */
  static Path write(Path folder, String name, byte[] data) throws IOException {
    Files.createDirectories(folder);
    return Files.write(folder.resolve(name), name.endsWith(".gz") ? gzip(data) : data);
  }

  /** A gray image of h×w with the given row-major values. */
  static BufferedImage gray(int h, int w, int... values) {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.getRaster().setSample(x, y, 0, values[y * w + x]);
      }
    }
    return image;
  }

  /** An RGB image of h×w, every pixel {@code rgb} (0xRRGGBB). */
  static BufferedImage solidRgb(int h, int w, int rgb) {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.setRGB(x, y, rgb);
      }
    }
    return image;
  }

  /** Writes {@code image} as PNG or JPEG (by the name's extension) to {@code folder/name}. */
  static Path writeImage(Path folder, String name, BufferedImage image) throws IOException {
    Files.createDirectories(folder);
    Path file = folder.resolve(name);
    String format = name.toLowerCase(Locale.ROOT).endsWith(".png") ? "png" : "jpeg";
    if (!ImageIO.write(image, format, file.toFile())) {
      throw new IOException("no " + format + " writer for " + image);
    }
    return file;
  }
}
