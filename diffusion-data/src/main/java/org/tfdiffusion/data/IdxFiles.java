package org.tfdiffusion.data;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * Reads and writes IDX files (Y. LeCun's format of MNIST), gzipped or not.
 *
 * <p>The format: a big-endian 32-bit magic number {@code 0x0000TTDD} where TT is the element type
 * ({@code 0x08} = unsigned byte, the only type image data uses) and DD the number of dimensions,
 * then DD big-endian 32-bit sizes, then the elements, row-major. Image files are {@code 0x00000803}
 * (count, rows, columns; {@code 0x00000804} with a trailing channel count of 1 or 3 is accepted),
 * label files {@code 0x00000801} (count). Gzip is recognised by its first two bytes, {@code 1f 8b},
 * whatever the file's name.
 */
final class IdxFiles {
  /** Magic number of an unsigned-byte, 3-dimensional file: images (count, rows, columns). */
  static final int IMAGES_MAGIC = 0x00000803;

  /** Magic number of an unsigned-byte, 1-dimensional file: labels (count). */
  static final int LABELS_MAGIC = 0x00000801;

  private static final int UNSIGNED_BYTE = 0x08;

  /** The size of a source that is not known before reading it (a stream, gzipped data). */
  private static final long UNKNOWN_LENGTH = -1;

  /** The first buffer for the data of a source whose size is not known (it grows as data comes). */
  private static final int FIRST_CHUNK = 1 << 20;

  private static final int GZIP_MAGIC_0 = 0x1f;
  private static final int GZIP_MAGIC_1 = 0x8b;

  /** The fix of a damaged file, for messages. */
  static final String REDOWNLOAD =
      "re-download it, or reinstall the dataset (apt-get install --reinstall"
          + " dataset-fashion-mnist)";

  private IdxFiles() {}

  /** The images of an IDX file: count × height × width × channels unsigned bytes. */
  record Images(int count, int height, int width, int channels, byte[] pixels) {}

  /** Reads an IDX image file, gzipped or not. */
  static Images readImages(Path file) {
    try (InputStream in = open(file)) {
      return readImages(in, file.toString(), Files.size(file));
    } catch (IOException e) {
      throw unreadable(file.toString(), e);
    }
  }

  /** Reads IDX images from {@code in}; {@code name} names the source in error messages. */
  static Images readImages(InputStream raw, String name) {
    return readImages(raw, name, UNKNOWN_LENGTH);
  }

  /**
   * Reads IDX images; {@code length} is the size of the (possibly gzipped) source, or {@link
   * #UNKNOWN_LENGTH}.
   */
  private static Images readImages(InputStream raw, String name, long length) {
    try (Source source = decompressed(raw, length)) {
      InputStream in = source.in();
      int magic = readHeaderInt(in, name, "magic number");
      int dims = magic & 0xFF;
      if ((magic >>> 8) != UNSIGNED_BYTE || (dims != 3 && dims != 4)) {
        throw new DataException(
            String.format(
                "%s: wrong magic number 0x%08X for an IDX image file (expected 0x%08X: unsigned"
                    + " bytes, count x rows x columns); is this an images file like"
                    + " train-images-idx3-ubyte.gz? If it is, %s",
                name, magic, IMAGES_MAGIC, REDOWNLOAD));
      }
      int count = readHeaderInt(in, name, "image count");
      int height = readHeaderInt(in, name, "row count");
      int width = readHeaderInt(in, name, "column count");
      int channels = dims == 4 ? readHeaderInt(in, name, "channel count") : 1;
      if (count < 0 || height < 1 || width < 1 || (channels != 1 && channels != 3)) {
        throw new DataException(
            String.format(
                "%s: impossible IDX image header: %d images of %dx%dx%d (need count >= 0, sizes"
                    + " >= 1, 1 or 3 channels); %s",
                name, count, height, width, channels, REDOWNLOAD));
      }
      long total = (long) count * height * width * channels;
      int header = Integer.BYTES * (dims + 1);
      String what = count + " images of " + height + "x" + width;
      checkLength(source, header, total, name, what);
      if (total > Integer.MAX_VALUE - 8) {
        throw new DataException(
            String.format(
                "%s: %d images of %dx%dx%d (%d bytes) do not fit in one Java array; split the"
                    + " file or use a subset",
                name, count, height, width, channels, total));
      }
      byte[] pixels = readBody(source, header, name, (int) total, what);
      return new Images(count, height, width, channels, pixels);
    } catch (IOException e) {
      throw unreadable(name, e);
    }
  }

  /** Reads an IDX label file, gzipped or not: one unsigned byte per image. */
  static byte[] readLabels(Path file) {
    try (InputStream in = open(file)) {
      return readLabels(in, file.toString(), Files.size(file));
    } catch (IOException e) {
      throw unreadable(file.toString(), e);
    }
  }

  /** Reads IDX labels from {@code in}; {@code name} names the source in error messages. */
  static byte[] readLabels(InputStream raw, String name) {
    return readLabels(raw, name, UNKNOWN_LENGTH);
  }

  /**
   * Reads IDX labels; {@code length} is the size of the (possibly gzipped) source, or {@link
   * #UNKNOWN_LENGTH}.
   */
  private static byte[] readLabels(InputStream raw, String name, long length) {
    try (Source source = decompressed(raw, length)) {
      InputStream in = source.in();
      int magic = readHeaderInt(in, name, "magic number");
      if (magic != LABELS_MAGIC) {
        throw new DataException(
            String.format(
                "%s: wrong magic number 0x%08X for an IDX label file (expected 0x%08X: unsigned"
                    + " bytes, one per image); is this a labels file like"
                    + " train-labels-idx1-ubyte.gz? If it is, %s",
                name, magic, LABELS_MAGIC, REDOWNLOAD));
      }
      int count = readHeaderInt(in, name, "label count");
      if (count < 0) {
        throw new DataException(
            String.format(
                "%s: negative label count %d in the header; %s", name, count, REDOWNLOAD));
      }
      return readBody(source, 2 * Integer.BYTES, name, count, count + " labels");
    } catch (IOException e) {
      throw unreadable(name, e);
    }
  }

  /** Writes IDX images (magic {@code 0x00000803}, grayscale), gzipped. */
  static void writeImages(OutputStream out, int count, int height, int width, byte[] pixels)
      throws IOException {
    if (pixels.length != (long) count * height * width) {
      throw new IllegalArgumentException(
          pixels.length + " bytes are not " + count + " images of " + height + "x" + width);
    }
    try (DataOutputStream data = new DataOutputStream(gzip(out))) {
      data.writeInt(IMAGES_MAGIC);
      data.writeInt(count);
      data.writeInt(height);
      data.writeInt(width);
      data.write(pixels);
    }
  }

  /** Writes IDX labels (magic {@code 0x00000801}), gzipped. */
  static void writeLabels(OutputStream out, byte[] labels) throws IOException {
    try (DataOutputStream data = new DataOutputStream(gzip(out))) {
      data.writeInt(LABELS_MAGIC);
      data.writeInt(labels.length);
      data.write(labels);
    }
  }

  /**
   * A gzip stream at the best compression. The JDK writes a fixed header (no name, time 0), so the
   * same bytes give the same file.
   */
  private static OutputStream gzip(OutputStream out) throws IOException {
    return new BufferedOutputStream(
        new GZIPOutputStream(out) {
          {
            def.setLevel(Deflater.BEST_COMPRESSION);
          }
        });
  }

  private static InputStream open(Path file) throws IOException {
    try {
      return Files.newInputStream(file);
    } catch (NoSuchFileException e) {
      throw new DataException(
          file
              + ": no such file; check the path, or install Fashion-MNIST with"
              + " apt-get install dataset-fashion-mnist",
          e);
    }
  }

  /**
   * The bytes after the gzip layer, if any; {@code plainLength} is the number of bytes they hold
   * when known before reading them (an uncompressed file: its size), else {@link #UNKNOWN_LENGTH}.
   */
  private record Source(InputStream in, long plainLength) implements AutoCloseable {
    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  /**
   * Buffers {@code raw} and un-gzips it when it starts with the gzip magic bytes; {@code length} is
   * the size of {@code raw} when known.
   */
  private static Source decompressed(InputStream raw, long length) throws IOException {
    BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
    in.mark(2);
    int b0 = in.read();
    int b1 = in.read();
    in.reset();
    if (b0 == GZIP_MAGIC_0 && b1 == GZIP_MAGIC_1) {
      return new Source(
          new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16), UNKNOWN_LENGTH);
    }
    return new Source(in, length);
  }

  private static int readHeaderInt(InputStream in, String name, String what) throws IOException {
    byte[] b = new byte[Integer.BYTES];
    int n = in.readNBytes(b, 0, b.length);
    if (n < b.length) {
      throw new DataException(
          String.format(
              "%s: truncated IDX header: the file ends before its %s; %s", name, what, REDOWNLOAD));
    }
    return ((b[0] & 0xFF) << 24) | ((b[1] & 0xFF) << 16) | ((b[2] & 0xFF) << 8) | (b[3] & 0xFF);
  }

  /**
   * Reads exactly {@code size} bytes after a header of {@code header} bytes and checks that nothing
   * follows them. The declared size is checked against the file's size before anything is allocated
   * when that is known; otherwise (gzip, a stream) the buffer grows only with the bytes that
   * arrive, so a damaged header cannot make it allocate what the data does not hold.
   */
  private static byte[] readBody(Source source, int header, String name, int size, String what)
      throws IOException {
    checkLength(source, header, size, name, what);
    InputStream in = source.in();
    byte[] body = new byte[Math.min(size, FIRST_CHUNK)];
    int n = 0;
    while (n < size) {
      if (n == body.length) {
        body = Arrays.copyOf(body, (int) Math.min(size, 2L * body.length));
      }
      int read = in.read(body, n, body.length - n);
      if (read < 0) {
        throw truncated(name, what, size, n);
      }
      n += read;
    }
    if (in.read() != -1) {
      throw tooLong(name, what, size);
    }
    return body;
  }

  /** Checks the declared {@code size} against the source's size, when that is known. */
  private static void checkLength(Source source, int header, long size, String name, String what) {
    if (source.plainLength() == UNKNOWN_LENGTH) {
      return;
    }
    long follow = source.plainLength() - header;
    if (follow < size) {
      throw truncated(name, what, size, Math.max(0, follow));
    }
    if (follow > size) {
      throw tooLong(name, what, size);
    }
  }

  private static DataException truncated(String name, String what, long size, long found) {
    return new DataException(
        String.format(
            "%s: truncated: the header declares %s (%d bytes of data) but only %d bytes follow;"
                + " %s",
            name, what, size, found, REDOWNLOAD));
  }

  private static DataException tooLong(String name, String what, long size) {
    return new DataException(
        String.format(
            "%s: more data than the header declares (%s, %d bytes); the file is damaged or not"
                + " IDX, %s",
            name, what, size, REDOWNLOAD));
  }

  private static DataException unreadable(String name, IOException e) {
    if (e instanceof EOFException || e instanceof ZipException) {
      return new DataException(
          String.format(
              "%s: damaged gzip data (%s): the file is truncated or corrupt; %s",
              name, e.getMessage(), REDOWNLOAD),
          e);
    }
    return new DataException(
        String.format("%s: cannot read (%s); check that it exists and is readable", name, e), e);
  }
}
