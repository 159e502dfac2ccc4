package org.tfdiffusion.export.serving;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.stream.Collectors;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;

/**
 * One input or output of a signature, read from its {@code TensorInfo}.
 *
 * @param alias the name clients use (the signature's key for it, e.g. {@code seed})
 * @param dtype the element type, e.g. {@code DT_INT64}
 * @param dims the dimensions, -1 for a dimension of any size (the batch); empty for a scalar;
 *     ignored when {@code unknownRank}
 * @param unknownRank whether the rank itself is unknown (any shape is accepted)
 * @param tensorName the graph tensor, {@code op:index}, fed or fetched by the session
 */
public record TensorSpec(
    String alias, DataType dtype, List<Long> dims, boolean unknownRank, String tensorName) {
  /** The size of a dimension that takes any size. */
  public static final long ANY_SIZE = -1;

  public TensorSpec {
    requireNonNull(alias, "alias");
    requireNonNull(dtype, "dtype");
    dims = List.copyOf(dims);
    requireNonNull(tensorName, "tensorName");
  }

  /** The spec of {@code info}, known to clients as {@code alias}. */
  public static TensorSpec of(String alias, TensorInfo info) {
    TensorShapeProto shape = info.getTensorShape();
    List<Long> dims =
        shape.getDimList().stream().map(TensorShapeProto.Dim::getSize).collect(Collectors.toList());
    return new TensorSpec(alias, info.getDtype(), dims, shape.getUnknownRank(), info.getName());
  }

  /** Whether the tensor is a scalar: rank 0, no batch dimension. */
  public boolean isScalar() {
    return !unknownRank && dims.isEmpty();
  }

  /** Whether the first dimension takes any size, i.e. is a batch dimension. */
  public boolean isBatched() {
    return !unknownRank && !dims.isEmpty() && dims.get(0) == ANY_SIZE;
  }

  /** The shape as TensorFlow prints it, e.g. {@code [-1,28,28,1]}, or {@code [?]}. */
  public String shapeString() {
    return unknownRank ? "[?]" : formatDims(dims);
  }

  static String formatDims(List<Long> dims) {
    return dims.stream().map(String::valueOf).collect(Collectors.joining(",", "[", "]"));
  }
}
