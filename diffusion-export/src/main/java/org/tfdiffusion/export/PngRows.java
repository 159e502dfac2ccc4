package org.tfdiffusion.export;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.ReduceSum;
import org.tensorflow.op.image.DecodeImage;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tfdiffusion.graph.Loops;

/**
 * One PNG per image of a batch, in the graph: {@code EncodePng} takes one image, so a {@code While}
 * over the rows encodes each and writes it into a string vector with {@code TensorScatterNdUpdate};
 * decoding runs the same way the other way round.
 */
final class PngRows {
  private PngRows() {}

  /**
   * @param images float32 [B, H, W, C] in [0, 1]
   * @return string [B], the PNG file bytes of each image
   */
  static Operand<TString> encode(Ops tf, Operand<TFloat32> images) {
    Operand<TUint8> bytes =
        tf.dtypes.cast(tf.math.round(tf.math.mul(images, tf.constant(255f))), TUint8.class);
    Operand<TInt32> batch = Loops.dim(tf, images, 0);
    Operand<TString> empty =
        tf.fill(tf.reshape(batch, tf.constant(new int[] {1})), tf.constant(""));
    List<Output<?>> out =
        Loops.whileLoop(
            tf,
            "png_rows",
            List.of(tf.constant(0), empty, bytes),
            (f, v) -> f.math.less(int32(v.get(0)), Loops.dim(f, v.get(2), 0)),
            (f, v) -> {
              Operand<TInt32> row = int32(v.get(0));
              @SuppressWarnings("unchecked")
              Operand<TUint8> all = (Operand<TUint8>) v.get(2);
              @SuppressWarnings("unchecked")
              Operand<TString> acc = (Operand<TString>) v.get(1);
              Operand<TString> png = f.image.encodePng(f.gather(all, row, f.constant(0)));
              Operand<TString> written =
                  f.tensorScatterNdUpdate(
                      acc,
                      f.reshape(row, f.constant(new int[] {1, 1})),
                      f.reshape(png, f.constant(new int[] {1})));
              return List.of(f.math.add(row, f.constant(1)), written, v.get(2));
            });
    @SuppressWarnings("unchecked")
    Operand<TString> result = (Operand<TString>) out.get(1);
    return tf.ensureShape(result, org.tensorflow.ndarray.Shape.of(-1));
  }

  /** ITU-R BT.601 luma weights of R, G and B, as training data converts RGB to grayscale. */
  private static final float[] LUMA = {0.299f, 0.587f, 0.114f};

  /**
   * Decodes one image file per row (PNG; JPEG, GIF and BMP are read too), each of {@code height} ×
   * {@code width} pixels: gray is replicated into RGB, alpha dropped, and for a 1-channel result
   * RGB becomes BT.601 luma rounded to 8 bits ({@code ImageFit}'s conversion). A row that is no
   * image, or of another size, fails the run with an InvalidArgument error naming {@code input}.
   *
   * @param files string [B], the file bytes of each row
   * @param channels 1 or 3
   * @return float32 [B, height, width, channels], the pixels divided by 255, in [0, 1]
   */
  static Operand<TFloat32> decode(
      Ops tf, Operand<TString> files, int height, int width, int channels, String input) {
    Operand<TInt32> batch = Loops.dim(tf, files, 0);
    Operand<TFloat32> empty =
        tf.fill(
            tf.concat(
                List.of(
                    tf.reshape(batch, tf.constant(new int[] {1})),
                    tf.constant(new int[] {height, width, channels})),
                tf.constant(0)),
            tf.constant(0f));
    String message =
        String.format(
            "each of input '%s' must be a %d×%d image (PNG): bring it to the model's size",
            input, height, width);
    List<Output<?>> out =
        Loops.whileLoop(
            tf,
            "decode_rows",
            List.of(tf.constant(0), empty, files),
            (f, v) -> f.math.less(int32(v.get(0)), Loops.dim(f, v.get(2), 0)),
            (f, v) -> {
              Operand<TInt32> row = int32(v.get(0));
              @SuppressWarnings("unchecked")
              Operand<TString> all = (Operand<TString>) v.get(2);
              @SuppressWarnings("unchecked")
              Operand<TFloat32> acc = (Operand<TFloat32>) v.get(1);
              Operand<TUint8> rgb =
                  f.image.decodeImage(
                      f.gather(all, row, f.constant(0)),
                      TUint8.class,
                      DecodeImage.channels(3L),
                      DecodeImage.expandAnimations(false));
              Operand<TBool> fits =
                  f.reduceAll(
                      f.math.equal(
                          f.slice(
                              f.shape(rgb), f.constant(new int[] {0}), f.constant(new int[] {2})),
                          f.constant(new int[] {height, width})),
                      f.constant(0));
              Operand<TFloat32> pixels =
                  f.withControlDependencies(
                          List.of(f.assertThat(fits, List.of(f.constant(message)))))
                      .dtypes
                      .cast(rgb, TFloat32.class);
              if (channels == 1) {
                pixels =
                    f.math.round(
                        f.reduceSum(
                            f.math.mul(pixels, f.constant(LUMA)),
                            f.constant(new int[] {2}),
                            ReduceSum.keepDims(true)));
              }
              Operand<TFloat32> unit = f.math.div(pixels, f.constant(255f));
              Operand<TFloat32> written =
                  f.tensorScatterNdUpdate(
                      acc,
                      f.reshape(row, f.constant(new int[] {1, 1})),
                      f.expandDims(unit, f.constant(0)));
              return List.of(f.math.add(row, f.constant(1)), written, v.get(2));
            });
    @SuppressWarnings("unchecked")
    Operand<TFloat32> result = (Operand<TFloat32>) out.get(1);
    return tf.ensureShape(result, org.tensorflow.ndarray.Shape.of(-1, height, width, channels));
  }

  @SuppressWarnings("unchecked")
  private static Operand<TInt32> int32(Operand<?> o) {
    return (Operand<TInt32>) o;
  }
}
