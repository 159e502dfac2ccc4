package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.Arrays;
import java.util.Locale;

/**
 * Brings images to a model's input: {@code imageSize × imageSize × channels}.
 *
 * <table>
 *   <caption>Fields</caption>
 *   <tr><th>field</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>imageSize</td><td>-</td><td>the model's height = width</td></tr>
 *   <tr><td>channels</td><td>-</td><td>the model's channels: 1 (grayscale) or 3 (RGB)</td></tr>
 *   <tr><td>mode</td><td>{@link FitMode#AUTO}</td><td>pad, center-crop or resize</td></tr>
 *   <tr><td>resampling</td><td>{@link Resampling#AREA}</td><td>the filter of every
 *       resize</td></tr>
 * </table>
 *
 * <p>The steps, on each image, in double precision with one rounding to 8 bits at the end:
 *
 * <ol>
 *   <li>Channels: grayscale → RGB replicates the gray value into R, G and B; RGB → grayscale is
 *       ITU-R BT.601 luma, {@code Y = 0.299 R + 0.587 G + 0.114 B}.
 *   <li>Size, by {@link FitMode}: pad onto a background of 0 (-1 in the model's range), crop the
 *       centred square and resize it, or resize the whole image (see {@link Resampling}).
 *   <li>Round half up to the nearest integer in [0, 255].
 * </ol>
 */
public record ImageFit(int imageSize, int channels, FitMode mode, Resampling resampling) {

  /** The value padding adds: 0, which the model sees as -1. */
  public static final int BACKGROUND = 0;

  /** ITU-R BT.601 luma weights of R, G and B. */
  private static final double LUMA_R = 0.299;

  private static final double LUMA_G = 0.587;
  private static final double LUMA_B = 0.114;

  public ImageFit {
    checkArgument(imageSize >= 1, "imageSize must be positive, got %s", imageSize);
    checkArgument(
        channels == 1 || channels == 3,
        "channels must be 1 (grayscale) or 3 (RGB), got %s",
        channels);
    checkNotNull(mode, "mode must not be null; FitMode.AUTO chooses");
    checkNotNull(resampling, "resampling must not be null; Resampling.AREA is the default");
  }

  /** Fits to a {@code imageSize × imageSize × channels} model with the defaults (auto, area). */
  public static ImageFit to(int imageSize, int channels) {
    return new ImageFit(imageSize, channels, FitMode.AUTO, Resampling.AREA);
  }

  public ImageFit withMode(FitMode mode) {
    return new ImageFit(imageSize, channels, mode, resampling);
  }

  public ImageFit withResampling(Resampling resampling) {
    return new ImageFit(imageSize, channels, mode, resampling);
  }

  /**
   * The concrete mode for an {@code height × width} image: {@link #mode()} unless it is {@link
   * FitMode#AUTO}, which pads IDX images that fit and center-crops everything else.
   *
   * @param imageFolder whether the image comes from an image folder (photos) rather than IDX
   */
  FitMode resolve(int height, int width, boolean imageFolder) {
    if (mode != FitMode.AUTO) {
      return mode;
    }
    boolean fits = height <= imageSize && width <= imageSize;
    return !imageFolder && fits ? FitMode.PAD : FitMode.CENTER_CROP;
  }

  /** Whether fitting an {@code height × width × channels} image changes nothing. */
  boolean isIdentity(int height, int width, int channels) {
    return height == imageSize && width == imageSize && channels == this.channels;
  }

  /**
   * Fits every image of {@code dataset} (all of one size), resolving {@link FitMode#AUTO} as for
   * IDX data. Returns the dataset itself when it already has the model's shape.
   *
   * @throws DataException when padding an image larger than the model
   */
  public ImageDataset apply(ImageDataset dataset) {
    int h = dataset.height();
    int w = dataset.width();
    int c = dataset.channels();
    if (isIdentity(h, w, c)) {
      return dataset;
    }
    FitMode resolved = resolve(h, w, false);
    int in = dataset.valuesPerImage();
    int out = imageSize * imageSize * channels;
    byte[] src = dataset.rawPixels();
    byte[] dst = new byte[dataset.size() * out];
    for (int i = 0; i < dataset.size(); i++) {
      fitInto(src, i * in, h, w, c, resolved, dataset.description(), dst, i * out);
    }
    return ImageDataset.create(
        imageSize,
        imageSize,
        channels,
        dst,
        dataset.rawLabels(),
        dataset.classNames(),
        dataset.description() + ", " + describe(resolved, h, w, c));
  }

  /** E.g. {@code padded 28x28x1 to 32x32x1}. */
  String describe(FitMode resolved, int height, int width, int channels) {
    String verb =
        switch (resolved) {
          case PAD -> "padded";
          case CENTER_CROP -> "center-cropped (" + resampling.name().toLowerCase(Locale.ROOT) + ")";
          case RESIZE -> "resized (" + resampling.name().toLowerCase(Locale.ROOT) + ")";
          case AUTO -> throw new IllegalArgumentException("resolve AUTO first");
        };
    return String.format(
        "%s %dx%dx%d to %dx%dx%d",
        verb, height, width, channels, imageSize, imageSize, this.channels);
  }

  /**
   * Fits one {@code height × width × channels} image read from {@code src[srcOffset ..]} and writes
   * the {@code imageSize × imageSize × channels()} result to {@code dst[dstOffset ..]}.
   *
   * @param resolved a concrete mode, see {@link #resolve}
   * @param name the image's file or source, for the error message
   * @throws DataException when padding an image larger than the model
   */
  void fitInto(
      byte[] src,
      int srcOffset,
      int height,
      int width,
      int channels,
      FitMode resolved,
      String name,
      byte[] dst,
      int dstOffset) {
    double[] image = convertChannels(src, srcOffset, height, width, channels, this.channels);
    int c = this.channels;
    double[] fitted =
        switch (resolved) {
          case PAD -> pad(image, height, width, c, name);
          case CENTER_CROP -> {
            int side = Math.min(height, width);
            double[] square =
                crop(image, height, width, c, (height - side) / 2, (width - side) / 2, side);
            yield resize(square, side, side, c, imageSize, imageSize, resampling);
          }
          case RESIZE -> resize(image, height, width, c, imageSize, imageSize, resampling);
          case AUTO -> throw new IllegalArgumentException("resolve AUTO first");
        };
    for (int k = 0; k < fitted.length; k++) {
      dst[dstOffset + k] = (byte) toByte(fitted[k]);
    }
  }

  /** Rounds half up and clamps to [0, 255]. */
  static int toByte(double v) {
    long r = Math.round(v);
    return (int) Math.max(0, Math.min(ImageDataset.MAX_PIXEL, r));
  }

  /** Replicates gray into RGB, or takes BT.601 luma of RGB; copies when the counts agree. */
  static double[] convertChannels(byte[] src, int offset, int height, int width, int from, int to) {
    int n = height * width;
    double[] out = new double[n * to];
    for (int p = 0; p < n; p++) {
      int s = offset + p * from;
      if (from == to) {
        for (int c = 0; c < to; c++) {
          out[p * to + c] = src[s + c] & 0xFF;
        }
      } else if (from == 1) {
        double gray = src[s] & 0xFF;
        for (int c = 0; c < to; c++) {
          out[p * to + c] = gray;
        }
      } else {
        out[p] =
            LUMA_R * (src[s] & 0xFF) + LUMA_G * (src[s + 1] & 0xFF) + LUMA_B * (src[s + 2] & 0xFF);
      }
    }
    return out;
  }

  private double[] pad(double[] image, int height, int width, int c, String name) {
    if (height > imageSize || width > imageSize) {
      throw new DataException(
          String.format(
              "%s: image is %dx%d, larger than the %dx%d model, and fit mode 'pad' only adds a"
                  + " border; use fit mode center-crop or resize (--fit), or a larger model",
              name, height, width, imageSize, imageSize));
    }
    double[] out = new double[imageSize * imageSize * c];
    Arrays.fill(out, BACKGROUND);
    int top = (imageSize - height) / 2;
    int left = (imageSize - width) / 2;
    for (int y = 0; y < height; y++) {
      System.arraycopy(image, y * width * c, out, ((top + y) * imageSize + left) * c, width * c);
    }
    return out;
  }

  /** The {@code side × side} window whose top-left corner is (top, left). */
  private static double[] crop(
      double[] image, int height, int width, int c, int top, int left, int side) {
    if (side == height && side == width) {
      return image;
    }
    double[] out = new double[side * side * c];
    for (int y = 0; y < side; y++) {
      System.arraycopy(image, ((top + y) * width + left) * c, out, y * side * c, side * c);
    }
    return out;
  }

  /** Separable resize: rows first, then columns. */
  static double[] resize(
      double[] image, int height, int width, int c, int outH, int outW, Resampling r) {
    if (height == outH && width == outW) {
      return image;
    }
    Taps tx = Taps.of(width, outW, r);
    double[] rows = new double[height * outW * c];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < outW; x++) {
        double[] w = tx.weights[x];
        for (int ch = 0; ch < c; ch++) {
          double sum = 0;
          for (int k = 0; k < w.length; k++) {
            sum += w[k] * image[(y * width + tx.first[x] + k) * c + ch];
          }
          rows[(y * outW + x) * c + ch] = sum;
        }
      }
    }
    Taps ty = Taps.of(height, outH, r);
    double[] out = new double[outH * outW * c];
    for (int y = 0; y < outH; y++) {
      double[] w = ty.weights[y];
      for (int x = 0; x < outW; x++) {
        for (int ch = 0; ch < c; ch++) {
          double sum = 0;
          for (int k = 0; k < w.length; k++) {
            sum += w[k] * rows[((ty.first[y] + k) * outW + x) * c + ch];
          }
          out[(y * outW + x) * c + ch] = sum;
        }
      }
    }
    return out;
  }

  /**
   * For each output pixel j of one axis: the first source pixel it reads and the weights of the
   * consecutive source pixels from there (they sum to 1).
   */
  private record Taps(int[] first, double[][] weights) {

    static Taps of(int in, int out, Resampling r) {
      int[] first = new int[out];
      double[][] weights = new double[out][];
      for (int j = 0; j < out; j++) {
        switch (r) {
          case BILINEAR -> {
            // source position of output centre j, half-pixel centres, clamped to the image
            double pos = (j + 0.5) * in / out - 0.5;
            pos = Math.max(0, Math.min(in - 1, pos));
            int i0 = (int) Math.floor(pos);
            double frac = pos - i0;
            first[j] = i0;
            weights[j] = i0 + 1 < in ? new double[] {1 - frac, frac} : new double[] {1};
          }
          case AREA -> {
            // in units of 1/out of a source pixel: output j covers [j·in, (j+1)·in), source
            // pixel i covers [i·out, (i+1)·out); the weight is the overlap over in (exact ints)
            long lo = (long) j * in;
            long hi = (long) (j + 1) * in;
            int i0 = (int) (lo / out);
            int i1 = (int) Math.min(in - 1, (hi - 1) / out);
            first[j] = i0;
            weights[j] = new double[i1 - i0 + 1];
            for (int i = i0; i <= i1; i++) {
              long overlap = Math.min(hi, (long) (i + 1) * out) - Math.max(lo, (long) i * out);
              weights[j][i - i0] = (double) overlap / in;
            }
          }
        }
      }
      return new Taps(first, weights);
    }
  }
}
