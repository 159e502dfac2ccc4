package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.tensorflow.proto.DataType;
import org.tfdiffusion.data.ImageFit;
import org.tfdiffusion.data.PixelImage;

/**
 * Image files for float32 image inputs: a request may give an input of shape [-1, H, W, C] (C = 1
 * or 3), such as {@code images} and {@code mask} of the {@code img2img} and {@code inpaint}
 * signatures, as PNG (or 8-bit JPEG) bytes in TensorFlow Serving's binary form {@code {"b64":
 * "..."}} instead of nested lists of numbers: one such object per row in the row format ({@code
 * "instances"}), a list of them in the columnar format ({@code "inputs"}).
 *
 * <p>A file is decoded to pixels p / 255 in [0, 1], the range of the images the export's signatures
 * return. Its channels are converted as training data's are (gray replicated into RGB, RGB to
 * BT.601 luma; alpha dropped), except for an input named {@code mask}, which must be grayscale
 * (white = regenerate, black = keep). Its size must be the input's H × W: the server does not
 * resize (the message names the size to resize to).
 */
final class ImageInputs {
  /** The input whose files must be grayscale. */
  static final String MASK = "mask";

  private static final String B64 = "b64";

  private ImageInputs() {}

  /** Whether {@code spec} is a float32 batch of square images [-1, S, S, 1 or 3]. */
  static boolean takesFiles(TensorSpec spec) {
    if (spec.dtype() != DataType.DT_FLOAT || !spec.isBatched() || spec.dims().size() != 4) {
      return false;
    }
    long h = spec.dims().get(1);
    long c = spec.dims().get(3);
    return h > 0 && h == spec.dims().get(2) && (c == 1 || c == 3);
  }

  /** Whether {@code node} is TensorFlow Serving's binary value {@code {"b64": "..."}}. */
  static boolean isFile(JsonNode node) {
    return node != null
        && node.isObject()
        && node.size() == 1
        && node.has(B64)
        && node.get(B64).isTextual();
  }

  /** Whether {@code node} is a non-empty list whose first element is {@code {"b64": "..."}}. */
  static boolean isFileList(JsonNode node) {
    return node != null && node.isArray() && !node.isEmpty() && isFile(node.get(0));
  }

  /**
   * One row's image, [S, S, C], from a {@code {"b64": "..."}} value.
   *
   * @param where how messages name the value, e.g. {@code instances[0].images}
   * @throws ServingException 400 naming the value and the fix: not base64, no image, another size,
   *     a mask with colours
   */
  static HostTensor row(String where, JsonNode node, TensorSpec spec) {
    float[] pixels = decode(where, node, spec);
    long s = spec.dims().get(1);
    return new HostTensor(DataType.DT_FLOAT, new long[] {s, s, spec.dims().get(3)}, pixels);
  }

  /**
   * A batch of images, [B, S, S, C], from a list of {@code {"b64": "..."}} values.
   *
   * @throws ServingException 400 as {@link #row}, or for an element that is no such value
   */
  static HostTensor batch(String where, JsonNode list, TensorSpec spec) {
    List<float[]> rows = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      JsonNode element = list.get(i);
      if (!isFile(element)) {
        throw ServingException.invalid(
            "%s[%d] is %s; give every image of the list as {\"b64\": \"...\"} (PNG bytes) or"
                + " every one as nested lists of numbers",
            where, i, JsonTensors.describe(element));
      }
      rows.add(decode(where + "[" + i + "]", element, spec));
    }
    long s = spec.dims().get(1);
    long c = spec.dims().get(3);
    int per = Math.toIntExact(s * s * c);
    float[] all = new float[per * rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(rows.get(i), 0, all, i * per, per);
    }
    return new HostTensor(DataType.DT_FLOAT, new long[] {rows.size(), s, s, c}, all);
  }

  private static float[] decode(String where, JsonNode node, TensorSpec spec) {
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(node.get(B64).textValue());
    } catch (IllegalArgumentException e) {
      throw ServingException.invalid(
          "%s: the \"b64\" value is not valid base64 (%s)", where, e.getMessage());
    }
    PixelImage image;
    try {
      image = PixelImage.decode(bytes, where);
    } catch (IllegalArgumentException e) {
      throw ServingException.invalid("%s", firstLine(e.getMessage()));
    }
    int size = Math.toIntExact(spec.dims().get(1));
    int channels = Math.toIntExact(spec.dims().get(3));
    boolean mask = MASK.equals(spec.alias());
    if (!image.hasSize(size)) {
      throw ServingException.invalid(
          "%s is a %s image but input '%s' takes %d×%d images: resize it to %d×%d%s",
          where,
          image.describe(),
          spec.alias(),
          size,
          size,
          size,
          size,
          mask ? " (a mask of its image's size)" : "");
    }
    if (mask && !image.isGray()) {
      throw ServingException.invalid(
          "%s has colours: give the mask as a grayscale PNG (white = regenerate, black = keep,"
              + " grays blend)",
          where);
    }
    return image.fit(ImageFit.to(size, channels)).unitRange();
  }

  private static String firstLine(String message) {
    return message == null ? "the value is no image" : message.lines().findFirst().orElse("");
  }
}
