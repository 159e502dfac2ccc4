package org.tfdiffusion.export;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;
import org.tfdiffusion.graph.Loops;

/**
 * One PNG per image of a batch, in the graph: {@code EncodePng} takes one image, so a {@code While}
 * over the rows encodes each and writes it into a string vector with {@code TensorScatterNdUpdate}.
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

  @SuppressWarnings("unchecked")
  private static Operand<TInt32> int32(Operand<?> o) {
    return (Operand<TInt32>) o;
  }
}
